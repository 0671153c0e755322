package model

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// repackTypes are the weight types with a packed layout: the ones a test
// model of each is written for.
var repackTypes = []ggml.Type{ggml.Q8_0, ggml.Q4_0, ggml.Q5_0, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K}

// packableHere reports whether this CPU and build pack t (for the shapes
// of the tiny test models: 16 rows and more).
func packableHere(t ggml.Type) bool {
	return ggml.Packable(t, 4096, 4096)
}

// allMatrices lists m's weight matrices, the embedding and output first.
func allMatrices(w *arch.Weights) []*arch.Matrix {
	ms := []*arch.Matrix{&w.Embedding, &w.Output}
	for i := range w.Layers {
		for _, nm := range layerMatrices(&w.Layers[i], &arch.LlamaTensors) {
			ms = append(ms, nm.m)
		}
	}
	return ms
}

// TestRepackBitIdentical loads tiny models twice, with and without
// repacking, and checks that the logits of a prompt (the batched kernels),
// of one token (the matrix-vector path) and a greedy continuation are the
// same bit for bit, that every packable matrix was packed, and that a
// tied embedding is packed once, shared with the output and read back
// through PackedRow (an untied one, llama's, stays in file layout). Every
// packed type runs on qwen2 (tied), Q8_0 and Q4_K also on qwen3 (Q/K
// norms, wider attention) and llama (untied output); -short keeps Q8_0
// and Q4_K on qwen2 and Q8_0 on llama.
func TestRepackBitIdentical(t *testing.T) {
	ran := 0
	for _, typ := range repackTypes {
		if !packableHere(typ) {
			continue
		}
		for _, archName := range []string{"qwen2", "qwen3", "llama"} {
			wide := typ == ggml.Q8_0 || typ == ggml.Q4_K
			switch {
			case archName != "qwen2" && !wide:
				continue
			case testing.Short() && !wide:
				continue
			case testing.Short() && archName != "qwen2" && (typ != ggml.Q8_0 || archName == "qwen3"):
				continue
			}
			ran++
			t.Run(archName+"-"+typ.String(), func(t *testing.T) {
				t.Parallel()
				path := testmodel.Write(t, testmodel.Tiny(archName, typ, 21))
				plain, err := Load(path, Options{Threads: 2, Context: 128, Repack: RepackOff})
				if err != nil {
					t.Fatal(err)
				}
				defer plain.Close()
				packed, err := Load(path, Options{Threads: 2, Context: 128})
				if err != nil {
					t.Fatal(err)
				}
				defer packed.Close()

				if n := plain.Info().RepackedBytes; n != 0 {
					t.Errorf("RepackOff: %d bytes repacked", n)
				}
				var want int64
				nm := 0
				for _, m := range allMatrices(&plain.model.W)[1:] { // the output stands for a tied embedding
					if ggml.Packable(m.Type, m.Rows, m.Cols) {
						want += int64(len(m.Data))
						nm++
					}
				}
				if info := packed.Info(); info.RepackedBytes != want || info.RepackedMatrices != nm || want == 0 {
					t.Errorf("repacked %d bytes in %d matrices, want %d in %d", info.RepackedBytes, info.RepackedMatrices, want, nm)
				}
				pw := &packed.model.W
				for i, m := range allMatrices(pw) {
					if i == 0 {
						continue // the embedding, checked below
					}
					if m.Packed != ggml.Packable(m.Type, m.Rows, m.Cols) {
						t.Errorf("matrix %d (%s %d×%d): packed %v", i, m.Type, m.Rows, m.Cols, m.Packed)
					}
				}
				tied := archName != "llama"
				if tied != (unsafe.SliceData(pw.Embedding.Data) == unsafe.SliceData(pw.Output.Data)) {
					t.Errorf("tied %v, but the embedding and output share data: %v", tied, !tied)
				}
				if pw.Embedding.Packed != (tied && pw.Output.Packed) {
					t.Errorf("embedding packed %v; tied %v, output packed %v", pw.Embedding.Packed, tied, pw.Output.Packed)
				}

				prompt := packed.Tokenize("The quick brown fox jumps over the lazy dog, and then")
				for _, p := range [][]int32{prompt, prompt[:1], {int32(packed.model.Config.Vocab - 1)}} {
					a, err := plain.Logits(p)
					if err != nil {
						t.Fatal(err)
					}
					b, err := packed.Logits(p)
					if err != nil {
						t.Fatal(err)
					}
					for i := range a {
						if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
							t.Fatalf("%d-token prompt: logit %d is %v repacked, %v in file layout", len(p), i, b[i], a[i])
						}
					}
				}
				req := Request{Raw: "Once upon a time", MaxTokens: 12}
				ra, err := plain.Generate(context.Background(), req, func(string) {})
				if err != nil {
					t.Fatal(err)
				}
				rb, err := packed.Generate(context.Background(), req, func(string) {})
				if err != nil {
					t.Fatal(err)
				}
				if ra.Text != rb.Text || ra.AnswerTokens != rb.AnswerTokens {
					t.Errorf("greedy continuation: %q repacked, %q in file layout", rb.Text, ra.Text)
				}
			})
		}
	}
	if ran == 0 {
		t.Skip("no packed layout on this CPU and build")
	}
}

// smapsEntry is one mapping of /proc/self/smaps.
type smapsEntry struct {
	lo, hi uintptr
	name   string
	rss    int64
}

// mappings reads /proc/self/smaps.
func mappings(t *testing.T) []smapsEntry {
	t.Helper()
	fd, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer fd.Close()
	var out []smapsEntry
	s := bufio.NewScanner(fd)
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) == 0 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") {
			var e smapsEntry
			if _, err := fmt.Sscanf(f[0], "%x-%x", &e.lo, &e.hi); err == nil {
				if len(f) >= 6 {
					e.name = f[5]
				}
				out = append(out, e)
			}
			continue
		}
		if f[0] == "Rss:" && len(out) > 0 && len(f) >= 2 {
			var kb int64
			fmt.Sscanf(f[1], "%d", &kb)
			out[len(out)-1].rss = kb << 10
		}
	}
	return out
}

// mappingAt returns the mapping holding addr.
func mappingAt(t *testing.T, addr uintptr) (smapsEntry, bool) {
	for _, m := range mappings(t) {
		if m.lo <= addr && addr < m.hi {
			return m, true
		}
	}
	return smapsEntry{}, false
}

// TestRepackOneCopyResident checks the memory side of repacking: after a
// forward pass (which reads every weight), the file's mapping holds only
// what was not repacked (metadata, norms) and the packed copies hold the
// rest, so resident memory counts the weights once; Close unmaps the
// packed copies.
func TestRepackOneCopyResident(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("resident memory per mapping is read from /proc/self/smaps")
	}
	if !packableHere(ggml.Q8_0) {
		t.Skip("no packed Q8_0 layout on this CPU and build")
	}
	path := sharedModel(t)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Load(path, Options{Threads: 2, Context: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Logits(e.Tokenize("hello world")); err != nil {
		t.Fatal(err)
	}
	info := e.Info()
	mem := e.packed.mem
	packedMap, ok := mappingAt(t, uintptr(unsafe.Pointer(unsafe.SliceData(mem))))
	if !ok {
		t.Fatal("the packed weights lie in no mapping")
	}
	norm := e.model.W.OutputNorm // F32, used where it lies in the file
	fileMap, ok := mappingAt(t, uintptr(unsafe.Pointer(unsafe.SliceData(norm))))
	if !ok || !strings.HasSuffix(fileMap.name, path) {
		t.Fatalf("the output norm lies in mapping %+v, want one of %s", fileMap, path)
	}
	page := int64(os.Getpagesize())
	// The pages a released tensor shares with its neighbours stay, and a
	// fault on a neighbour may map back a few pages around it (Linux maps
	// up to 16 pages of the page cache around a fault): allow 16 pages
	// per tensor of the file.
	slack := 16 * page * int64(len(e.file.Tensors))
	t.Logf("file %d bytes, repacked %d in %d matrices; resident: file mapping %d, packed %d",
		st.Size(), info.RepackedBytes, info.RepackedMatrices, fileMap.rss, packedMap.rss)
	if fileMap.rss > st.Size()-info.RepackedBytes+slack {
		t.Errorf("the file's mapping has %d bytes resident, want at most %d (the file less what was repacked): the packed tensors' pages were not released",
			fileMap.rss, st.Size()-info.RepackedBytes+slack)
	}
	if packedMap.rss < info.RepackedBytes {
		t.Errorf("the packed weights have %d bytes resident, want all %d (they were all written)", packedMap.rss, info.RepackedBytes)
	}
	if both := fileMap.rss + packedMap.rss; both > st.Size()+slack {
		t.Errorf("file and packed weights hold %d bytes resident together, more than the file's %d", both, st.Size())
	}

	lo, hi := packedMap.lo, packedMap.hi
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for _, m := range mappings(t) {
		if m.lo == lo && m.hi == hi && m.name == "" {
			t.Errorf("the packed weights' mapping %#x-%#x is still there after Close", lo, hi)
		}
	}
	if _, err := e.Logits([]int32{1}); err == nil {
		t.Error("Logits after Close: no error")
	}
}

// BenchmarkRepack loads a model (BENCH_MODEL, e.g. a Qwen2.5-0.5B-shaped
// file, else the tiny qwen2 Q8_0) with repacking and in file layout, and
// measures each: the load (whole Load and Close; SetBytes is the bytes
// repacked, so MB/s is the repacking rate) and prompt and generation
// speed (Engine.Bench). The two modes' figures in one run give what
// repacking costs at load and buys per token.
func BenchmarkRepack(b *testing.B) {
	path := schedBenchModel(b)
	cache := path + ".chatloop-packed"
	if _, err := os.Stat(cache); os.IsNotExist(err) {
		b.Cleanup(func() { os.Remove(cache) })
	}
	for _, mode := range []struct {
		name      string
		noRepack  bool
		packCache bool
	}{{"repacked", false, false}, {"pack-cache", false, true}, {"file-layout", true, false}} {
		opts := Options{Threads: 2, Context: 1024, Repack: RepackIf(!mode.noRepack), PackCache: mode.packCache, PackCacheDir: b.TempDir()}
		if mode.packCache { // write the cache first
			e, err := Load(path, opts)
			if err != nil {
				b.Fatal(err)
			}
			if e.packed != nil && e.packed.bgDone != nil {
				<-e.packed.bgDone
			}
			e.Close()
		}
		b.Run(mode.name+"/load", func(b *testing.B) {
			var repacked int64
			for b.Loop() {
				e, err := Load(path, opts)
				if err != nil {
					b.Fatal(err)
				}
				repacked = e.Info().RepackedBytes
				e.Close()
			}
			b.SetBytes(repacked)
		})
		b.Run(mode.name+"/speed", func(b *testing.B) {
			e, err := Load(path, opts)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			benchSpeeds(b, e, 64, 32)
		})
	}
}

func TestRepackOption(t *testing.T) {
	for _, tt := range []struct {
		r    Repack
		want bool
	}{{RepackDefault, true}, {RepackOn, true}, {RepackOff, false}, {RepackIf(true), true}, {RepackIf(false), false}} {
		if got := tt.r.On(); got != tt.want {
			t.Errorf("Repack(%d).On() = %v, want %v", tt.r, got, tt.want)
		}
	}
	if (Options{}).Repack != RepackDefault {
		t.Error("the zero Options does not repack by default")
	}
}
