// Package hub fetches GGUF model files from Hugging Face (or any HTTPS
// server) into a local cache: resumable downloads with HTTP Range, SHA-256
// verification against the checksum Hugging Face publishes for LFS files,
// and an atomic rename into place only once a file is complete and
// verified.
package hub

import (
	"sort"
	"strings"
)

// Entry is one model of the built-in catalogue.
type Entry struct {
	// Name is what users type: "qwen2.5-0.5b-instruct".
	Name string
	// Repo and File locate the GGUF file on Hugging Face.
	Repo, File string
	// Quant is the quantization of File, for display.
	Quant string
	// ApproxSize is the file's approximate size in bytes, for display
	// before the server has been asked.
	ApproxSize int64
	// Size is the file's exact size in bytes when pinned (0: unpinned);
	// a download is cut there. Unpinned, it is cut at ApproxSize + 10%.
	Size int64
	// SHA256 pins the file's digest (lower-case hex; "" unpinned): a
	// download that does not have it is refused, whatever the server
	// publishes. See docs/security.md for which entries are pinned.
	SHA256 string
}

// DefaultModel is the catalogue name pulled when nothing else is configured.
const DefaultModel = "qwen2.5-0.5b-instruct"

const mb = 1000 * 1000

// The pinned sizes and digests are the files' Git LFS object ids
// (sha256) on Hugging Face, which this build machine cannot reach. Each was
// found in public source code that pins the same file of the same
// repository (catalogues and fetch scripts of several unrelated projects,
// some at a pinned revision, some naming Hugging Face's cache blob, which
// is named by that digest), the size and the digest agreeing everywhere:
//
//   - Qwen2.5-1.5B and 3B (bartowski): revisions 9eadc66 and f302c64;
//   - Qwen3-1.7B (bartowski): revision dcb1915, from the tree API's lfs.oid;
//   - Llama-3.2-1B (bartowski): revision 067b946, and the cache blob name;
//   - Llama-3.2-3B (bartowski): revision 5ab33fa;
//   - SmolLM2-1.7B (bartowski): the cache blob name;
//   - Qwen2.5-0.5B-Instruct Q8_0 (Qwen's own repository, the default):
//     revision 9217f5d in one catalogue, and the same digest and size in
//     two unrelated projects' download instructions and test anchors;
//   - Qwen3-0.6B Q8_0 (Qwen's own repository; bartowski's copy until 7
//     December, for which no digest was found): revision 23749fe in several
//     unrelated projects' catalogues and download scripts.
//
// Every entry is pinned (TestCataloguePins); an entry added without a
// known digest is checked against the X-Linked-Etag Hugging Face sends.
var catalogue = []Entry{
	{Name: "qwen2.5-0.5b-instruct", Repo: "Qwen/Qwen2.5-0.5B-Instruct-GGUF", File: "qwen2.5-0.5b-instruct-q8_0.gguf", Quant: "Q8_0", ApproxSize: 676 * mb, Size: 675710816, SHA256: "ca59ca7f13d0e15a8cfa77bd17e65d24f6844b554a7b6c12e07a5f89ff76844e"},
	{Name: "qwen2.5-1.5b-instruct", Repo: "bartowski/Qwen2.5-1.5B-Instruct-GGUF", File: "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf", Quant: "Q4_K_M", ApproxSize: 986 * mb, Size: 986048768, SHA256: "1adf0b11065d8ad2e8123ea110d1ec956dab4ab038eab665614adba04b6c3370"},
	{Name: "qwen2.5-3b-instruct", Repo: "bartowski/Qwen2.5-3B-Instruct-GGUF", File: "Qwen2.5-3B-Instruct-Q4_K_M.gguf", Quant: "Q4_K_M", ApproxSize: 1930 * mb, Size: 1929903264, SHA256: "9c9f56a391a3abbd5b89d0245bf6106081bcc3173119d4229235dd9d23253f94"},
	{Name: "qwen3-0.6b", Repo: "Qwen/Qwen3-0.6B-GGUF", File: "Qwen3-0.6B-Q8_0.gguf", Quant: "Q8_0", ApproxSize: 639 * mb, Size: 639446688, SHA256: "9465e63a22add5354d9bb4b99e90117043c7124007664907259bd16d043bb031"},
	{Name: "qwen3-1.7b", Repo: "bartowski/Qwen_Qwen3-1.7B-GGUF", File: "Qwen_Qwen3-1.7B-Q4_K_M.gguf", Quant: "Q4_K_M", ApproxSize: 1280 * mb, Size: 1282439584, SHA256: "72c5c3cb38fa32d5256e2fe30d03e7a64c6c79e668ad84057e3bd66e250b24fb"},
	{Name: "llama-3.2-1b-instruct", Repo: "bartowski/Llama-3.2-1B-Instruct-GGUF", File: "Llama-3.2-1B-Instruct-Q4_K_M.gguf", Quant: "Q4_K_M", ApproxSize: 808 * mb, Size: 807694464, SHA256: "6f85a640a97cf2bf5b8e764087b1e83da0fdb51d7c9fab7d0fece9385611df83"},
	{Name: "llama-3.2-3b-instruct", Repo: "bartowski/Llama-3.2-3B-Instruct-GGUF", File: "Llama-3.2-3B-Instruct-Q4_K_M.gguf", Quant: "Q4_K_M", ApproxSize: 2020 * mb, Size: 2019377696, SHA256: "6c1a2b41161032677be168d354123594c0e6e67d2b9227c84f296ad037c728ff"},
	{Name: "smollm2-1.7b-instruct", Repo: "bartowski/SmolLM2-1.7B-Instruct-GGUF", File: "SmolLM2-1.7B-Instruct-Q4_K_M.gguf", Quant: "Q4_K_M", ApproxSize: 1060 * mb, Size: 1055609824, SHA256: "77665ea4815999596525c636fbeb56ba8b080b46ae85efef4f0d986a139834d7"},
}

// Catalogue returns the known models, sorted by name.
func Catalogue() []Entry {
	out := append([]Entry(nil), catalogue...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup finds a catalogue entry by name, ignoring case.
func Lookup(name string) (Entry, bool) {
	for _, e := range catalogue {
		if strings.EqualFold(e.Name, name) {
			return e, true
		}
	}
	return Entry{}, false
}
