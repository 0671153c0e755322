package gguf_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/internal/vocabdata"
)

// The reference files are GGUF files this package's Writer makes
// deterministically. scripts/reference/gguf-info.mjs has them written
// (go test -run TestWriteReference -gguf-reference DIR), reads each with
// node-llama-cpp's own GGUF parser and loads the llama ones with llama.cpp,
// and stores what they saw in testdata/reference-golden.json, which
// TestReferenceGolden compares with this package's reader.
var referenceDir = flag.String("gguf-reference", "", "TestWriteReference writes the reference files and manifest.json to this directory")

const referenceGolden = "testdata/reference-golden.json"

// blockScales gives, per quantized type, the byte offsets of the fp16
// scale fields within one block (as ggml's block structs lay them out).
// Random bytes with these fields set to small positive halves are valid,
// finite blocks.
var blockScales = map[ggml.Type][]int{
	ggml.Q4_0: {0}, ggml.Q4_1: {0, 2}, ggml.Q5_0: {0}, ggml.Q5_1: {0, 2}, ggml.Q8_0: {0},
	ggml.Q4_K: {0, 2}, ggml.Q5_K: {0, 2}, ggml.Q6_K: {128 + 64 + 16},
}

// randomTensor returns n elements of type t from r: finite float values of
// magnitude 2^-6 to 2 for float types, random quants with small positive
// scales for quantized ones. It does not depend on ggml's quantizers, so
// the reference files stay the same whatever they do.
func randomTensor(r *rand.Rand, t ggml.Type, n int) []byte {
	size, err := t.RowSize(int64(n))
	if err != nil {
		panic(err)
	}
	b := make([]byte, size)
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(r.Uint32())
	}
	// exponent field (bits, bias) of each float type: keep it in [bias-6, bias].
	setExp := func(v uint64, shift uint, bias uint64) uint64 {
		mask := uint64(0xff)
		if shift == 10 {
			mask = 0x1f
		}
		e := (v>>shift)&mask%7 + bias - 6
		return v&^(mask<<shift) | e<<shift
	}
	switch t {
	case ggml.F32:
		for i := 0; i < len(b); i += 4 {
			binary.LittleEndian.PutUint32(b[i:], uint32(setExp(uint64(binary.LittleEndian.Uint32(b[i:])), 23, 127)))
		}
	case ggml.F16:
		for i := 0; i < len(b); i += 2 {
			binary.LittleEndian.PutUint16(b[i:], uint16(setExp(uint64(binary.LittleEndian.Uint16(b[i:])), 10, 15)))
		}
	case ggml.BF16:
		for i := 0; i < len(b); i += 2 {
			binary.LittleEndian.PutUint16(b[i:], uint16(setExp(uint64(binary.LittleEndian.Uint16(b[i:])), 7, 127)))
		}
	default:
		offs, ok := blockScales[t]
		if !ok {
			panic(fmt.Sprintf("no scale layout for %s", t))
		}
		bs := t.TypeSize()
		for blk := 0; blk < len(b); blk += bs {
			for _, o := range offs {
				// a positive half in [2^-10, 2^-6)
				h := uint16(r.Uint32()) & 0x3ff
				binary.LittleEndian.PutUint16(b[blk+o:], h|uint16(5+r.IntN(4))<<10)
			}
		}
	}
	return b
}

// referenceFile is one reference file: a name and how to write it.
type referenceFile struct {
	Name  string
	Load  bool // a llama model llama.cpp should load
	build func(tb testing.TB) *gguf.Writer
}

func referenceFiles() []referenceFile {
	files := []referenceFile{
		{Name: "types", build: func(tb testing.TB) *gguf.Writer { return typesWriter(tb, 3, 0) }},
		{Name: "types-v2-align64", build: func(tb testing.TB) *gguf.Writer { return typesWriter(tb, 2, 64) }},
	}
	for _, t := range allTypes {
		files = append(files, referenceFile{
			Name: "llama-" + strings.ToLower(t.String()), Load: true,
			build: func(tb testing.TB) *gguf.Writer { return tinyLlamaWriter(tb, t, 0) },
		})
	}
	return append(files, referenceFile{
		Name: "llama-q8_0-align256", Load: true,
		build: func(tb testing.TB) *gguf.Writer { return tinyLlamaWriter(tb, ggml.Q8_0, 256) },
	})
}

// typesWriter: a metadata value of every kind and a tensor of every type.
func typesWriter(tb testing.TB, version uint32, alignment uint64) *gguf.Writer {
	w := gguf.NewWriter(version, alignment)
	for _, e := range sampleKV() {
		if e.Key == "test.nan" {
			continue // JSON cannot carry it
		}
		w.AddKV(e.Key, e.Value)
	}
	r := rand.New(rand.NewPCG(11, 12))
	shapes := [][]uint64{{256}, {256, 3}, {512, 2, 2}, {256, 1, 2, 3}}
	for i, t := range allTypes {
		dims := shapes[i%len(shapes)]
		n := 1
		for _, d := range dims {
			n *= int(d)
		}
		if err := w.AddTensor(fmt.Sprintf("t%d.%s", i, t), t, dims, randomTensor(r, t, n)); err != nil {
			tb.Fatal(err)
		}
	}
	return w
}

// embeddings caches the token embedding of each width: it is the bulk of
// every tiny model and the same in all of them.
var embeddings = map[int][]byte{}

// tinyLlamaWriter writes a one-layer llama model with Llama 3's real
// tokenizer, an F16 token embedding (tied to the output) and its other
// matrices of type t.
func tinyLlamaWriter(tb testing.TB, t ggml.Type, alignment uint64) *gguf.Writer {
	vocab, err := vocabdata.Llama3()
	if err != nil {
		tb.Fatal(err)
	}
	hidden, heads, kvHeads, ffn := 64, 4, 2, 128
	if t.BlockSize() > 32 {
		hidden, ffn = 256, 512
	}
	headDim := hidden / heads
	nVocab := len(vocab.Tokens)
	w := gguf.NewWriter(3, alignment)
	w.SetString("general.architecture", "llama")
	w.SetString("general.name", "chatloop gguf reference "+t.String())
	w.SetUint32("llama.block_count", 1)
	w.SetUint32("llama.context_length", 256)
	w.SetUint32("llama.embedding_length", uint32(hidden))
	w.SetUint32("llama.feed_forward_length", uint32(ffn))
	w.SetUint32("llama.attention.head_count", uint32(heads))
	w.SetUint32("llama.attention.head_count_kv", uint32(kvHeads))
	w.SetFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5)
	w.SetFloat32("llama.rope.freq_base", 500000)
	w.SetUint32("llama.rope.dimension_count", uint32(headDim))
	w.SetUint32("llama.vocab_size", uint32(nVocab))
	if err := vocab.WriteGGUF(w); err != nil {
		tb.Fatal(err)
	}
	r := rand.New(rand.NewPCG(uint64(t), 1))
	emb, ok := embeddings[hidden]
	if !ok {
		emb = randomTensor(rand.New(rand.NewPCG(uint64(hidden), 2)), ggml.F16, hidden*nVocab)
		embeddings[hidden] = emb
	}
	add := func(name string, typ ggml.Type, data []byte, dims ...uint64) {
		if data == nil {
			n := 1
			for _, d := range dims {
				n *= int(d)
			}
			data = randomTensor(r, typ, n)
		}
		if err := w.AddTensor(name, typ, dims, data); err != nil {
			tb.Fatal(err)
		}
	}
	h, f, q, kv := uint64(hidden), uint64(ffn), uint64(heads*headDim), uint64(kvHeads*headDim)
	add("token_embd.weight", ggml.F16, emb, h, uint64(nVocab))
	add("output_norm.weight", ggml.F32, nil, h)
	add("blk.0.attn_norm.weight", ggml.F32, nil, h)
	add("blk.0.attn_q.weight", t, nil, h, q)
	add("blk.0.attn_k.weight", t, nil, h, kv)
	add("blk.0.attn_v.weight", t, nil, h, kv)
	add("blk.0.attn_output.weight", t, nil, q, h)
	add("blk.0.ffn_norm.weight", ggml.F32, nil, h)
	add("blk.0.ffn_gate.weight", t, nil, h, f)
	add("blk.0.ffn_up.weight", t, nil, h, f)
	add("blk.0.ffn_down.weight", t, nil, f, h)
	return w
}

// TestWriteReference writes the reference files for gguf-info.mjs.
func TestWriteReference(t *testing.T) {
	if *referenceDir == "" {
		t.Skip("set -gguf-reference DIR to write the reference files")
	}
	type entry struct {
		Name, File string
		Load       bool
	}
	var manifest []entry
	for _, rf := range referenceFiles() {
		file := rf.Name + ".gguf"
		if err := rf.build(t).WriteFile(filepath.Join(*referenceDir, file)); err != nil {
			t.Fatal(err)
		}
		manifest = append(manifest, entry{rf.Name, file, rf.Load})
	}
	b, _ := json.MarshalIndent(manifest, "", "  ")
	if err := os.WriteFile(filepath.Join(*referenceDir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// golden is what gguf-info.mjs recorded of one file.
type golden struct {
	Name      string                     `json:"name"`
	SHA256    string                     `json:"sha256"`
	Version   int                        `json:"version"`
	Tensors   int                        `json:"tensorCount"`
	Metadata  map[string]json.RawMessage `json:"metadata"`
	TensorsAt []struct {
		Name       string        `json:"name"`
		Dims       []json.Number `json:"dims"`
		Type       int           `json:"ggmlType"`
		FileOffset json.Number   `json:"fileOffset"`
		Bytes      int64         `json:"bytes"`
		SHA256     string        `json:"sha256"`
	} `json:"tensors"`
	Llama *struct {
		Size             int64   `json:"size"`
		TrainContextSize int     `json:"trainContextSize"`
		EmbeddingSize    int     `json:"embeddingVectorSize"`
		BOS              *int    `json:"bos"`
		EOS              *int    `json:"eos"`
		Tokens           []int64 `json:"tokens"`
	} `json:"llama"`
}

// longArray is how gguf-info.mjs summarises arrays of more than 16
// elements: the length, the first and last four elements and the SHA-256
// of the elements as text, each followed by a NUL byte.
type longArray struct {
	Len    int               `json:"len"`
	Head   []json.RawMessage `json:"head"`
	Tail   []json.RawMessage `json:"tail"`
	SHA256 string            `json:"sha256"`
}

// TestReferenceGolden compares this package's reading of the reference
// files with node-llama-cpp's and llama.cpp's, recorded in testdata.
func TestReferenceGolden(t *testing.T) {
	raw, err := os.ReadFile(referenceGolden)
	if err != nil {
		t.Fatal(err)
	}
	var goldens []golden
	if err := json.Unmarshal(raw, &goldens); err != nil {
		t.Fatal(err)
	}
	files := map[string]referenceFile{}
	for _, rf := range referenceFiles() {
		files[rf.Name] = rf
	}
	if len(goldens) != len(files) {
		t.Errorf("%s has %d files, want %d (regenerate it: node scripts/reference/gguf-info.mjs)", referenceGolden, len(goldens), len(files))
	}
	for _, g := range goldens {
		t.Run(g.Name, func(t *testing.T) {
			rf, ok := files[g.Name]
			if !ok {
				t.Fatalf("no reference file %s", g.Name)
			}
			if testing.Short() && rf.Load && g.Name != "llama-f32" && g.Name != "llama-q4_k" && g.Name != "llama-q8_0-align256" {
				t.Skip("-short: two of the llama files suffice")
			}
			data := encode(t, rf.build(t))
			if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != g.SHA256 {
				t.Fatalf("the writer's bytes changed since the golden file was made (sha256 %x, golden %s); regenerate it: node scripts/reference/gguf-info.mjs", sum, g.SHA256)
			}
			f, err := gguf.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, f, g)
		})
	}
}

func compareGolden(t *testing.T, f *gguf.File, g golden) {
	t.Helper()
	if int(f.Version) != g.Version || len(f.Tensors) != g.Tensors {
		t.Errorf("version %d with %d tensors; node-llama-cpp read %d with %d", f.Version, len(f.Tensors), g.Version, g.Tensors)
	}
	if len(f.KV) != len(g.Metadata) {
		t.Errorf("%d keys; node-llama-cpp read %d", len(f.KV), len(g.Metadata))
	}
	for key, want := range g.Metadata {
		v, ok := f.Get(key)
		if !ok {
			t.Errorf("key %s: missing; node-llama-cpp read %s", key, want)
			continue
		}
		if err := matchJSON(v, want); err != nil {
			t.Errorf("key %s = %s: %v", key, v.Describe(), err)
		}
	}
	var total int64
	for i, want := range g.TensorsAt {
		if i >= len(f.Tensors) {
			break
		}
		got := f.Tensors[i]
		total += int64(got.Size)
		dims := make([]string, len(want.Dims))
		for j, d := range want.Dims {
			dims[j] = d.String()
		}
		gotDims := strings.Trim(fmt.Sprint(got.Dims), "[]")
		if got.Name != want.Name || int(got.Type) != want.Type || gotDims != strings.Join(dims, " ") ||
			strconv.FormatUint(f.DataOffset()+got.Offset, 10) != want.FileOffset.String() || int64(got.Size) != want.Bytes {
			t.Errorf("tensor %d: %s %s [%s] at %d, %d bytes; node-llama-cpp: %s type %d [%s] at %s, %d bytes", i,
				got.Name, got.Type, gotDims, f.DataOffset()+got.Offset, got.Size, want.Name, want.Type, strings.Join(dims, " "), want.FileOffset, want.Bytes)
			continue
		}
		data, err := f.TensorData(got.Name)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != want.SHA256 {
			t.Errorf("tensor %s: data differ from the bytes node read at its offset", got.Name)
		}
	}
	if l := g.Llama; l != nil {
		// llama.cpp's model size is the sum of ggml_nbytes over its tensors.
		if l.Size != total {
			t.Errorf("tensors take %d bytes; llama.cpp counts %d", total, l.Size)
		}
		if n, _ := f.Uint("llama.context_length"); int(n) != l.TrainContextSize {
			t.Errorf("context length %d; llama.cpp read %d", n, l.TrainContextSize)
		}
		if n, _ := f.Uint("llama.embedding_length"); int(n) != l.EmbeddingSize {
			t.Errorf("embedding length %d; llama.cpp read %d", n, l.EmbeddingSize)
		}
		if bos, _ := f.Uint("tokenizer.ggml.bos_token_id"); l.BOS == nil || int(bos) != *l.BOS {
			t.Errorf("bos %d; llama.cpp read %v", bos, l.BOS)
		}
		if eos, _ := f.Uint("tokenizer.ggml.eos_token_id"); l.EOS == nil || int(eos) != *l.EOS {
			t.Errorf("eos %d; llama.cpp read %v", eos, l.EOS)
		}
		// The prompt "Hello, world!" tokenized by llama.cpp from this
		// file's vocabulary spells the prompt again.
		tokens, _ := f.Strings("tokenizer.ggml.tokens")
		var text string
		for _, id := range l.Tokens {
			if id < 0 || int(id) >= len(tokens) {
				t.Fatalf("llama.cpp token %d outside the vocabulary", id)
			}
			text += tokens[id]
		}
		if text != "Hello,Ġworld!" {
			t.Errorf("llama.cpp's tokens %v spell %q from the vocabulary", l.Tokens, text)
		}
	}
}

// matchJSON compares a value with node-llama-cpp's JSON of it.
func matchJSON(v gguf.Value, raw json.RawMessage) error {
	if v.Type == gguf.TypeArray && v.ArrayLen() > 16 {
		var la longArray
		if err := json.Unmarshal(raw, &la); err != nil || la.Len == 0 {
			return fmt.Errorf("node-llama-cpp read %s", raw)
		}
		elems := arrayElems(v)
		if len(elems) != la.Len {
			return fmt.Errorf("%d elements; node-llama-cpp read %d", len(elems), la.Len)
		}
		h := sha256.New()
		for _, e := range elems {
			h.Write([]byte(e.text))
			h.Write([]byte{0})
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != la.SHA256 {
			return fmt.Errorf("elements differ from node-llama-cpp's (sha256 %s, node %s)", got, la.SHA256)
		}
		for i, want := range la.Head {
			if err := matchScalar(elems[i], want); err != nil {
				return fmt.Errorf("[%d]: %v", i, err)
			}
		}
		for i, want := range la.Tail {
			if err := matchScalar(elems[len(elems)-len(la.Tail)+i], want); err != nil {
				return fmt.Errorf("[%d]: %v", len(elems)-len(la.Tail)+i, err)
			}
		}
		return nil
	}
	if v.Type == gguf.TypeArray {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return fmt.Errorf("node-llama-cpp read %s", raw)
		}
		elems := arrayElems(v)
		if len(list) != len(elems) {
			return fmt.Errorf("%d elements; node-llama-cpp read %d", len(elems), len(list))
		}
		for i := range list {
			if err := matchScalar(elems[i], list[i]); err != nil {
				return fmt.Errorf("[%d]: %v", i, err)
			}
		}
		return nil
	}
	return matchScalar(scalar(v), raw)
}

// elem is one scalar rendered for comparison: its text (as JavaScript's
// String() would give it for strings and integers) and its kind.
type elem struct {
	text  string
	kind  string // "string", "int", "float", "bool"
	float float64
}

func scalar(v gguf.Value) elem {
	if s, ok := v.String(); ok {
		return elem{text: s, kind: "string"}
	}
	if b, ok := v.Bool(); ok {
		return elem{text: strconv.FormatBool(b), kind: "bool"}
	}
	if x, ok := v.Float(); ok {
		return elem{kind: "float", float: x, text: strconv.FormatFloat(x, 'g', -1, 64)}
	}
	if i, ok := v.Int(); ok {
		return elem{text: strconv.FormatInt(i, 10), kind: "int"}
	}
	u, _ := v.Uint()
	return elem{text: strconv.FormatUint(u, 10), kind: "int"}
}

func arrayElems(v gguf.Value) []elem {
	out := make([]elem, 0, v.ArrayLen())
	switch {
	case v.ArrayType() == gguf.TypeString:
		s, _ := v.Strings()
		for _, x := range s {
			out = append(out, elem{text: x, kind: "string"})
		}
	case v.ArrayType() == gguf.TypeBool:
		b, _ := v.Bools()
		for _, x := range b {
			out = append(out, elem{text: strconv.FormatBool(x), kind: "bool"})
		}
	case v.ArrayType() == gguf.TypeFloat32 || v.ArrayType() == gguf.TypeFloat64:
		fs, _ := v.Floats()
		for _, x := range fs {
			out = append(out, elem{kind: "float", float: x, text: strconv.FormatFloat(x, 'g', -1, 64)})
		}
	default:
		ints, _ := v.Ints()
		for _, x := range ints {
			out = append(out, elem{text: strconv.FormatInt(x, 10), kind: "int"})
		}
	}
	return out
}

// matchScalar compares one element with its JSON: strings and bools
// exactly, integers as exact decimals (bigints arrive as strings), floats
// as the same float64.
func matchScalar(e elem, raw json.RawMessage) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return err
	}
	switch want := x.(type) {
	case string:
		if e.text == want && (e.kind == "string" || e.kind == "int") {
			return nil
		}
	case bool:
		if e.kind == "bool" && e.text == strconv.FormatBool(want) {
			return nil
		}
	case json.Number:
		switch e.kind {
		case "int":
			if want.String() == e.text {
				return nil
			}
		case "float":
			if w, err := strconv.ParseFloat(want.String(), 64); err == nil && w == e.float {
				return nil
			}
		}
	}
	return fmt.Errorf("%s %q; node-llama-cpp read %s", e.kind, e.text, raw)
}
