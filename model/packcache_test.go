package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// loadCached loads path with the pack cache on and waits for its
// background work (writing or checking the cache) to end.
func loadCached(t *testing.T, path, fallback string) *Engine {
	t.Helper()
	e := loadPacking(t, path, fallback)
	if e.packed.bgDone != nil {
		<-e.packed.bgDone
	}
	return e
}

// loadPacking loads path with the pack cache on and returns at once,
// while the cache may still be being written.
func loadPacking(t *testing.T, path, fallback string) *Engine {
	t.Helper()
	e, err := Load(path, Options{Threads: 1, Context: 64, PackCache: true, PackCacheDir: fallback})
	if err != nil {
		t.Fatal(err)
	}
	if e.packed == nil {
		e.Close()
		t.Skip("no packed layout on this CPU: nothing to cache")
	}
	return e
}

func logitsOf(t *testing.T, e *Engine) []float32 {
	t.Helper()
	l, err := e.Logits(e.Tokenize("The pack cache maps what was packed."))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestPackCacheMapsWhatWasPacked(t *testing.T) {
	for _, typ := range []ggml.Type{ggml.Q8_0, ggml.Q4_K} {
		t.Run(typ.String(), func(t *testing.T) {
			path := testmodel.Write(t, testmodel.Tiny("qwen2", typ, 3))
			fallback := t.TempDir()
			first := loadCached(t, path, fallback)
			if first.Info().PackCache != "" {
				t.Fatalf("the first load used a cache: %s", first.Info().PackCache)
			}
			want := logitsOf(t, first)
			first.Close()
			cache := path + ".chatloop-packed"
			if _, err := os.Stat(cache); err != nil {
				t.Fatalf("no cache beside the model after the first load: %v", err)
			}

			second := loadCached(t, path, fallback)
			defer second.Close()
			if got := second.Info().PackCache; got != cache {
				t.Fatalf("second load: pack cache %q, want %q", got, cache)
			}
			if got := logitsOf(t, second); !bytes.Equal(f32bytes(got), f32bytes(want)) {
				t.Error("logits from the mapped cache differ from the packed load's")
			}
			plain, err := Load(path, Options{Threads: 1, Context: 64, Repack: RepackOff})
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			if got := logitsOf(t, plain); !bytes.Equal(f32bytes(got), f32bytes(want)) {
				t.Error("logits of the file layout differ from the packed ones")
			}
			if _, err := os.Stat(cache); err != nil {
				t.Errorf("the cache was removed after a load that matched: %v", err)
			}
		})
	}
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// rewriteHeader edits a cache file's header, keeping its data where it is.
func rewriteHeader(t *testing.T, path string, edit func(h *packCacheHeader)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b[len(packCacheMagic):])
	var h packCacheHeader
	if err := json.Unmarshal(b[len(packCacheMagic)+8:len(packCacheMagic)+8+int(n)], &h); err != nil {
		t.Fatal(err)
	}
	edit(&h)
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.WriteString(packCacheMagic)
	binary.Write(&out, binary.LittleEndian, uint64(len(js)))
	out.Write(js)
	if int64(out.Len()) > h.DataOffset {
		t.Fatal("edited header overruns the data")
	}
	out.Write(make([]byte, h.DataOffset-int64(out.Len())))
	out.Write(b[h.DataOffset:])
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPackCacheRefusesWhatDoesNotMatch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, model, cache string)
	}{
		{"other CPU features", func(t *testing.T, _, cache string) {
			rewriteHeader(t, cache, func(h *packCacheHeader) { h.CPU = "amd64 avx2" })
		}},
		{"other layout version", func(t *testing.T, _, cache string) {
			rewriteHeader(t, cache, func(h *packCacheHeader) { h.Layout++ })
		}},
		{"model file touched", func(t *testing.T, model, _ string) {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(model, later, later); err != nil {
				t.Fatal(err)
			}
		}},
		{"matrix list differs", func(t *testing.T, _, cache string) {
			rewriteHeader(t, cache, func(h *packCacheHeader) { h.Tensors[0].Name = "blk.9.attn_q.weight" })
		}},
		{"truncated", func(t *testing.T, _, cache string) {
			st, _ := os.Stat(cache)
			if err := os.Truncate(cache, st.Size()-100); err != nil {
				t.Fatal(err)
			}
		}},
		{"not a cache", func(t *testing.T, _, cache string) {
			if err := os.WriteFile(cache, []byte("GGUF and more"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"empty", func(t *testing.T, _, cache string) {
			if err := os.WriteFile(cache, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := testmodel.Write(t, testmodel.Tiny("qwen2", ggml.Q8_0, 4))
			fallback := t.TempDir()
			first := loadCached(t, path, fallback)
			want := logitsOf(t, first)
			first.Close()
			cache := path + ".chatloop-packed"
			tc.spoil(t, path, cache)

			e := loadCached(t, path, fallback)
			if got := e.Info().PackCache; got != "" {
				t.Errorf("a spoilt cache was used: %s", got)
			}
			if got := logitsOf(t, e); !bytes.Equal(f32bytes(got), f32bytes(want)) {
				t.Error("logits after repacking differ")
			}
			e.Close()
			// It was rewritten, and the next load maps it.
			again := loadCached(t, path, fallback)
			defer again.Close()
			if got := again.Info().PackCache; got != cache {
				t.Errorf("after the rewrite: pack cache %q, want %q", got, cache)
			}
		})
	}
}

// TestPackCacheOfAnotherFileRemoved: a cache whose size and time match
// but whose SHA-256 is another file's is found out by the background
// hash and removed.
func TestPackCacheOfAnotherFileRemoved(t *testing.T) {
	path := testmodel.Write(t, testmodel.Tiny("qwen2", ggml.Q8_0, 5))
	first := loadCached(t, path, t.TempDir())
	first.Close()
	cache := path + ".chatloop-packed"
	rewriteHeader(t, cache, func(h *packCacheHeader) { h.ModelSHA256 = "00" + h.ModelSHA256[2:] })
	e := loadCached(t, path, t.TempDir())
	defer e.Close()
	if e.Info().PackCache != cache {
		t.Fatalf("pack cache %q not used", e.Info().PackCache)
	}
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Errorf("a cache of another file is still there: %v", err)
	}
}

// TestPackCacheFallbackFolder: when nothing can be written beside the
// model, the cache goes to the fallback folder and is found there.
func TestPackCacheFallbackFolder(t *testing.T) {
	path := testmodel.Write(t, testmodel.Tiny("qwen2", ggml.Q8_0, 6))
	// A folder in the way of the cache file: neither readable as a cache
	// nor replaceable by one (whoever runs the test, root included).
	if err := os.Mkdir(path+".chatloop-packed", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path+".chatloop-packed", "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fallback := t.TempDir()
	first := loadCached(t, path, fallback)
	first.Close()
	matches, _ := filepath.Glob(filepath.Join(fallback, "*-"+filepath.Base(path)+".chatloop-packed"))
	if len(matches) != 1 {
		t.Fatalf("fallback folder holds %v, want one cache", matches)
	}
	e := loadCached(t, path, fallback)
	defer e.Close()
	if e.Info().PackCache != matches[0] {
		t.Errorf("pack cache %q, want %q", e.Info().PackCache, matches[0])
	}
}

// TestPackCacheCloseFinishesTheWriter: an engine closed at once, as
// `chat --once` closes it after a short answer, still leaves the cache
// (Close waits for the write), and the next load maps it.
func TestPackCacheCloseFinishesTheWriter(t *testing.T) {
	path := testmodel.Write(t, testmodel.Tiny("qwen2", ggml.Q8_0, 8))
	loadPacking(t, path, t.TempDir()).Close()
	if _, err := os.Stat(path + ".chatloop-packed"); err != nil {
		t.Fatalf("no pack cache after Close: %v", err)
	}
	again, err := Load(path, Options{Threads: 1, Context: 64, PackCache: true, PackCacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Info().PackCache != path+".chatloop-packed" {
		t.Errorf("second load: pack cache %q, want the one the first Close finished", again.Info().PackCache)
	}
}

// TestPackCacheCloseLeavesNoTemporary: closing the engine while the cache
// is being written (Close finishes the write) leaves the cache and no
// temporary file, half or whole, beside it.
func TestPackCacheCloseLeavesNoTemporary(t *testing.T) {
	path := testmodel.Write(t, testmodel.Tiny("qwen2", ggml.Q8_0, 8))
	loadPacking(t, path, t.TempDir()).Close()
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, de := range entries {
		if n := de.Name(); n != filepath.Base(path) && n != filepath.Base(path)+".chatloop-packed" {
			t.Errorf("left behind: %s", n)
		}
	}
}
