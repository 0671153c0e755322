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

var catalogue = []Entry{
	{Name: "qwen2.5-0.5b-instruct", Repo: "Qwen/Qwen2.5-0.5B-Instruct-GGUF", File: "qwen2.5-0.5b-instruct-q8_0.gguf", Quant: "Q8_0", ApproxSize: 676 * mb},
	{Name: "qwen2.5-1.5b-instruct", Repo: "bartowski/Qwen2.5-1.5B-Instruct-GGUF", File: "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf", Quant: "Q4_K_M", ApproxSize: 986 * mb},
	{Name: "qwen2.5-3b-instruct", Repo: "bartowski/Qwen2.5-3B-Instruct-GGUF", File: "Qwen2.5-3B-Instruct-Q4_K_M.gguf", Quant: "Q4_K_M", ApproxSize: 1930 * mb},
	{Name: "qwen3-0.6b", Repo: "bartowski/Qwen_Qwen3-0.6B-GGUF", File: "Qwen_Qwen3-0.6B-Q8_0.gguf", Quant: "Q8_0", ApproxSize: 639 * mb},
	{Name: "qwen3-1.7b", Repo: "bartowski/Qwen_Qwen3-1.7B-GGUF", File: "Qwen_Qwen3-1.7B-Q4_K_M.gguf", Quant: "Q4_K_M", ApproxSize: 1280 * mb},
	{Name: "llama-3.2-1b-instruct", Repo: "bartowski/Llama-3.2-1B-Instruct-GGUF", File: "Llama-3.2-1B-Instruct-Q4_K_M.gguf", Quant: "Q4_K_M", ApproxSize: 808 * mb},
	{Name: "llama-3.2-3b-instruct", Repo: "bartowski/Llama-3.2-3B-Instruct-GGUF", File: "Llama-3.2-3B-Instruct-Q4_K_M.gguf", Quant: "Q4_K_M", ApproxSize: 2020 * mb},
	{Name: "smollm2-1.7b-instruct", Repo: "bartowski/SmolLM2-1.7B-Instruct-GGUF", File: "SmolLM2-1.7B-Instruct-Q4_K_M.gguf", Quant: "Q4_K_M", ApproxSize: 1060 * mb},
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
