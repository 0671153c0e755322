package model

import "github.com/chatloop/chatloop/model/gguf"

// The metadata accessors the loader uses, over model/gguf's.

func metaString(f *gguf.File, key string) (string, bool) { return f.String(key) }
func metaUint(f *gguf.File, key string) (uint64, bool)   { return f.Uint(key) }
func metaFloat(f *gguf.File, key string) (float64, bool) { return f.Float(key) }
func metaBool(f *gguf.File, key string) (bool, bool)     { return f.Bool(key) }

// metaStrings returns strings that alias the file's mapping (no copy of a
// 150,000-token vocabulary): they must not be kept past f.Close.
func metaStrings(f *gguf.File, key string) ([]string, bool) { return f.StringsView(key) }

func metaInt32s(f *gguf.File, key string) ([]int32, bool) {
	v, ok := f.Ints(key)
	if !ok {
		return nil, false
	}
	out := make([]int32, len(v))
	for i, x := range v {
		if x < -1<<31 || x >= 1<<31 {
			return nil, false
		}
		out[i] = int32(x)
	}
	return out, true
}
