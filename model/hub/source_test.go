package hub

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	tests := []struct {
		in       string
		repo     string
		file     string
		url      string
		fileName string
		download string
	}{
		{in: "qwen2.5-0.5b-instruct", repo: "Qwen/Qwen2.5-0.5B-Instruct-GGUF", file: "qwen2.5-0.5b-instruct-q8_0.gguf", fileName: "qwen2.5-0.5b-instruct-q8_0.gguf",
			download: "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q8_0.gguf"},
		{in: "QWEN3-0.6B", repo: "Qwen/Qwen3-0.6B-GGUF", file: "Qwen3-0.6B-Q8_0.gguf", fileName: "Qwen3-0.6B-Q8_0.gguf"},
		{in: "hf://bartowski/SmolLM2-1.7B-Instruct-GGUF/SmolLM2-1.7B-Instruct-Q8_0.gguf", repo: "bartowski/SmolLM2-1.7B-Instruct-GGUF", file: "SmolLM2-1.7B-Instruct-Q8_0.gguf", fileName: "SmolLM2-1.7B-Instruct-Q8_0.gguf"},
		{in: "hf://o/r/sub dir/m q.gguf", repo: "o/r", file: "sub dir/m q.gguf", fileName: "m q.gguf", download: "https://huggingface.co/o/r/resolve/main/sub%20dir/m%20q.gguf"},
		{in: "https://example.com/models/x.GGUF?download=1", url: "https://example.com/models/x.GGUF?download=1", fileName: "x.GGUF"},
	}
	for _, tt := range tests {
		src, err := ParseSource(tt.in)
		if err != nil {
			t.Errorf("ParseSource(%q): %v", tt.in, err)
			continue
		}
		if src.Repo != tt.repo || src.File != tt.file || src.URL != tt.url || src.FileName() != tt.fileName {
			t.Errorf("ParseSource(%q) = %+v (file %q)", tt.in, src, src.FileName())
		}
		if tt.download != "" {
			if got := src.DownloadURL(DefaultEndpoint + "/"); got != tt.download {
				t.Errorf("DownloadURL(%q) = %q, want %q", tt.in, got, tt.download)
			}
		}
	}
}

func TestParseSourceRejects(t *testing.T) {
	for _, in := range []string{
		"", "no-such-model", "hf://owner/repo", "hf://owner/repo/", "hf://own er/repo/x.gguf",
		"hf://o/r/../x.gguf", "hf://o/r/x.bin", "hf://o/r/.gguf", "https://example.com/", "https://example.com/x.txt",
		"https://user:pw@example.com/x.gguf", "ftp://example.com/x.gguf", "hf://o/r/a\x00.gguf",
	} {
		if src, err := ParseSource(in); !errors.Is(err, ErrBadSource) {
			t.Errorf("ParseSource(%q) = %+v, %v; want ErrBadSource", in, src, err)
		}
	}
	if _, err := ParseSource("https://user:hunter2@example.com/x.gguf"); strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error repeats the password: %v", err)
	}
}

func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"qwen3-1.7b", "hf://o/r/x.gguf", "hf://o/r/a/b/c.gguf", "https://h/x.gguf", "http://h:1/%2e%2e/x.gguf", "hf://o/r/..%2fx.gguf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		src, err := ParseSource(s)
		if err != nil {
			return
		}
		name := src.FileName()
		if err := checkFileName(name); err != nil {
			t.Fatalf("ParseSource(%q) accepted file name %q: %v", s, name, err)
		}
		if filepath.Base(name) != name {
			t.Fatalf("file name %q is not a base name", name)
		}
		_ = src.DownloadURL(DefaultEndpoint)
		_ = src.String()
	})
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/1", 0, 1, true},
		{"bytes 5-9/*", 5, -1, true},
		{"bytes 5-9/9", 0, 0, false},
		{"bytes 9-5/20", 0, 0, false},
		{"bytes */200", 0, 0, false},
		{"items 0-1/2", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		s, tot, ok := parseContentRange(tt.in)
		if ok != tt.ok || (ok && (s != tt.start || tot != tt.total)) {
			t.Errorf("parseContentRange(%q) = %d, %d, %v; want %d, %d, %v", tt.in, s, tot, ok, tt.start, tt.total, tt.ok)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	f.Add("bytes 100-199/200")
	f.Add("bytes 5-9/*")
	f.Fuzz(func(t *testing.T, s string) {
		start, total, ok := parseContentRange(s)
		if ok && (start < 0 || (total != -1 && total <= start)) {
			t.Fatalf("parseContentRange(%q) = %d, %d", s, start, total)
		}
	})
}

func TestEtagSHA256(t *testing.T) {
	sum := strings.Repeat("0a", 32)
	for in, want := range map[string]string{
		`"` + sum + `"`:                              sum,
		`W/"` + strings.ToUpper(sum) + `"`:           sum,
		`"0123456789abcdef0123456789abcdef01234567"`: "",
		"": "",
	} {
		if got := etagSHA256(in); got != want {
			t.Errorf("etagSHA256(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCacheListFindRemove(t *testing.T) {
	withCatalogueUnpinned(t)
	cache := Cache{Dir: t.TempDir()}
	if l, err := cache.List(); err != nil || len(l) != 0 {
		t.Fatalf("empty cache: %v, %v", l, err)
	}
	if l, err := (Cache{Dir: filepath.Join(cache.Dir, "absent")}).List(); err != nil || len(l) != 0 {
		t.Fatalf("missing cache dir: %v, %v", l, err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(cache.Path(name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum := strings.Repeat("cd", 32)
	write("qwen2.5-0.5b-instruct-q8_0.gguf", "model")
	if err := writeChecksum(cache.Path("qwen2.5-0.5b-instruct-q8_0.gguf"), sum); err != nil {
		t.Fatal(err)
	}
	// Pulled from the catalogue's repository (a file of that name from
	// elsewhere is not the catalogue model: TestCacheIdentity).
	if err := writeSource(cache.Path("qwen2.5-0.5b-instruct-q8_0.gguf"), hfSource(t, "qwen2.5-0.5b-instruct")); err != nil {
		t.Fatal(err)
	}
	write("other.gguf", "x")
	write("other.gguf.part", "partial")
	write("notes.txt", "ignored")

	l, err := cache.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 || l[0].File != "other.gguf" || l[1].Name != "qwen2.5-0.5b-instruct" || l[1].SHA256 != sum || l[1].Size != 5 || l[0].SHA256 != "" {
		t.Fatalf("List = %+v", l)
	}
	if m, err := cache.Find("qwen2.5-0.5b-instruct"); err != nil || m.SHA256 != sum {
		t.Errorf("Find by catalogue name: %+v, %v", m, err)
	}
	if _, err := cache.Find("qwen3-0.6b"); !errors.Is(err, ErrNotCached) {
		t.Errorf("Find of an absent model: %v, want ErrNotCached", err)
	}
	if _, err := cache.Remove("other.gguf"); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Remove("qwen2.5-0.5b-instruct"); err != nil {
		t.Fatal(err)
	}
	if names := cacheFiles(t, cache.Dir); len(names) != 1 || names[0] != "notes.txt" {
		t.Errorf("after removing both models the cache holds %q", names)
	}
	if _, err := cache.Remove("other.gguf"); !errors.Is(err, ErrNotCached) {
		t.Errorf("second Remove: %v, want ErrNotCached", err)
	}
	if _, err := cache.Remove("../../etc/passwd.gguf"); !errors.Is(err, ErrNotCached) {
		t.Errorf("Remove outside the cache: %v, want ErrNotCached", err)
	}
}

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	if d, err := DefaultCacheDir(); err != nil || d != filepath.Join("/x/cache", "chatloop", "models") {
		t.Errorf("with XDG_CACHE_HOME: %q, %v", d, err)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d, err := DefaultCacheDir(); err != nil || d != filepath.Join("/home/u", ".cache", "chatloop", "models") {
		t.Errorf("without XDG_CACHE_HOME: %q, %v", d, err)
	}
}

func TestCatalogue(t *testing.T) {
	names := map[string]bool{}
	for _, e := range Catalogue() {
		if names[e.Name] {
			t.Errorf("duplicate %s", e.Name)
		}
		names[e.Name] = true
		src, err := ParseSource("hf://" + e.Repo + "/" + e.File)
		if err != nil || src.FileName() != e.File {
			t.Errorf("%s: entry is not a valid hf:// reference: %v", e.Name, err)
		}
	}
	for _, want := range []string{DefaultModel, "qwen2.5-1.5b-instruct", "qwen2.5-3b-instruct", "qwen3-0.6b", "qwen3-1.7b", "llama-3.2-1b-instruct", "llama-3.2-3b-instruct", "smollm2-1.7b-instruct"} {
		if !names[want] {
			t.Errorf("catalogue lacks %s", want)
		}
	}
}
