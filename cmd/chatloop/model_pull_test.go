package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/model/hub"
)

// fakeHub is a small stand-in for Hugging Face: /OWNER/REPO/resolve/main/FILE
// redirects to a CDN path with X-Linked-Etag and X-Linked-Size, and the
// CDN serves the bytes with Range support.
type fakeHub struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	gets  int
}

func newFakeHub(t *testing.T, files map[string][]byte) *fakeHub {
	t.Helper()
	f := &fakeHub{files: files}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if blob, ok := strings.CutPrefix(r.URL.Path, "/cdn/"); ok {
			for _, c := range f.files {
				if sum := sha256.Sum256(c); hex.EncodeToString(sum[:]) == blob {
					if r.Method == http.MethodGet {
						f.mu.Lock()
						f.gets++
						f.mu.Unlock()
					}
					http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(c))
					return
				}
			}
			http.NotFound(w, r)
			return
		}
		path := strings.Replace(strings.TrimPrefix(r.URL.Path, "/"), "/resolve/main/", "/", 1)
		c, ok := f.files[path]
		if !ok {
			http.Error(w, "Entry not found", http.StatusNotFound)
			return
		}
		sum := sha256.Sum256(c)
		w.Header().Set("X-Linked-Etag", `"`+hex.EncodeToString(sum[:])+`"`)
		w.Header().Set("X-Linked-Size", fmt.Sprint(len(c)))
		w.Header().Set("Location", "/cdn/"+hex.EncodeToString(sum[:]))
		w.WriteHeader(http.StatusFound)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeHub) downloads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets
}

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := execute(args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func TestModelPullListRm(t *testing.T) {
	content := bytes.Repeat([]byte("GGUF model bytes "), 50_000)
	f := newFakeHub(t, map[string][]byte{
		"Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q8_0.gguf": content,
		"someone/Tiny-GGUF/tiny-q8_0.gguf":                                content,
	})
	cacheDir := t.TempDir()
	t.Setenv("HF_ENDPOINT", f.URL)
	t.Setenv("CHATLOOP_MODEL_CACHE_DIR", cacheDir)
	t.Chdir(t.TempDir())
	sum := sha256.Sum256(content)
	hexSum := hex.EncodeToString(sum[:])

	// The default model's digest is pinned: other bytes under its name are
	// refused, whatever the server says, and nothing is installed.
	out, errOut, code := runCLI(t, "model", "pull")
	if code == 0 || !strings.Contains(errOut, "checksum mismatch") || !strings.Contains(errOut, "the catalogue pins ca59ca7f") {
		t.Errorf("pull of the pinned default from a server with other bytes: exit %d\n%s", code, errOut)
	}
	if ents, _ := os.ReadDir(filepath.Join(cacheDir, "hf", "Qwen", "Qwen2.5-0.5B-Instruct-GGUF")); len(ents) != 0 {
		t.Errorf("the refused download left %v", ents)
	}

	// A file outside the catalogue has no pin: the server's bytes go in.
	const ref = "hf://someone/Tiny-GGUF/tiny-q8_0.gguf"
	out, errOut, code = runCLI(t, "model", "pull", ref)
	if code != 0 {
		t.Fatalf("pull: exit %d\n%s", code, errOut)
	}
	path := filepath.Join(cacheDir, "hf", "someone", "Tiny-GGUF", "tiny-q8_0.gguf")
	if !strings.Contains(out, path) || !strings.Contains(out, hexSum) {
		t.Errorf("pull output %q lacks the path or checksum", out)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("pulled file: %d bytes, %v", len(got), err)
	}
	if !strings.Contains(errOut, "download complete") {
		t.Errorf("no progress lines on a non-terminal stderr:\n%s", errOut)
	}

	out, _, code = runCLI(t, "model", "list")
	if code != 0 || !strings.Contains(out, "tiny-q8_0.gguf") || !strings.Contains(out, hexSum) || !strings.Contains(out, "850.0 kB") ||
		!strings.Contains(out, ref) {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	out, _, _ = runCLI(t, "model", "list", "--all")
	if !regexp.MustCompile(`qwen2.5-0.5b-instruct \(default\)\s+Q8_0\s+\S+ MB\s+no`).MatchString(out) || !strings.Contains(out, "smollm2-1.7b-instruct") || !regexp.MustCompile(`qwen3-0.6b\s+Q8_0\s+\S+ MB\s+no`).MatchString(out) {
		t.Errorf("list --all:\n%s", out)
	}

	out, errOut, code = runCLI(t, "model", "rm", ref)
	if code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("rm: exit %d\n%s%s", code, out, errOut)
	}
	if ents, _ := os.ReadDir(cacheDir); len(ents) != 0 {
		t.Errorf("cache not empty after rm: %v", ents)
	}
	if _, errOut, code = runCLI(t, "model", "rm", ref); code == 0 || !strings.Contains(errOut, "not in the cache") {
		t.Errorf("second rm: exit %d, %s", code, errOut)
	}
}

func TestModelPullBadReference(t *testing.T) {
	t.Setenv("CHATLOOP_MODEL_CACHE_DIR", t.TempDir())
	t.Chdir(t.TempDir())
	_, errOut, code := runCLI(t, "model", "pull", "gpt-17-ultra")
	if code == 0 || !strings.Contains(errOut, "not in the catalogue") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// testApp is an app whose stderr and logs go to stderr (a buffer).
func pullTestApp(stderr *bytes.Buffer) *app {
	return &app{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: stderr, log: slog.New(slog.NewTextHandler(stderr, nil))}
}

func pullTestCommand(yes bool) *cobra.Command {
	cmd := &cobra.Command{}
	cmd.Flags().Bool("yes", false, "")
	if yes {
		cmd.Flags().Set("yes", "true")
	}
	cmd.SetContext(context.Background())
	return cmd
}

func TestResolveModelPathPullsOnFirstUse(t *testing.T) {
	content := bytes.Repeat([]byte{7}, 100_000)
	f := newFakeHub(t, map[string][]byte{"someone/Tiny-GGUF/tiny-q8_0.gguf": content})
	t.Setenv("HF_ENDPOINT", f.URL)
	var stderr bytes.Buffer
	a := pullTestApp(&stderr)
	cfg := defaultConfig()
	cfg.Model.Name = "hf://someone/Tiny-GGUF/tiny-q8_0.gguf" // no pin for the fake's bytes to contradict
	cfg.Model.CacheDir = t.TempDir()

	path, err := a.resolveModelPath(pullTestCommand(false), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(cfg.Model.CacheDir, "hf", "someone", "Tiny-GGUF", "tiny-q8_0.gguf") {
		t.Errorf("path %s", path)
	}
	if sum, err := hub.ReadChecksum(path); err != nil || len(sum) != 64 {
		t.Errorf("checksum beside the model: %q, %v", sum, err)
	}
	// The second time it comes from the cache, even with the server gone.
	f.Close()
	again, err := a.resolveModelPath(pullTestCommand(true), &cfg)
	if err != nil || again != path {
		t.Fatalf("second resolve: %s, %v", again, err)
	}
	// --model with the reference of a cached file resolves to the file.
	cfg.Model.Path = cfg.Model.Name
	if p, err := a.resolveModelPath(pullTestCommand(false), &cfg); err != nil || p != path {
		t.Errorf("--model %s: %s, %v", cfg.Model.Path, p, err)
	}
}

func TestResolveModelPathKeepsConfiguredFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mine.gguf")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HF_ENDPOINT", "http://127.0.0.1:1") // never asked
	a := pullTestApp(&bytes.Buffer{})
	cfg := defaultConfig()
	cfg.Model.CacheDir = t.TempDir()
	for _, p := range []string{file, "missing-file.gguf"} {
		cfg.Model.Path = p
		got, err := a.resolveModelPath(pullTestCommand(false), &cfg)
		if err != nil || got != p {
			t.Errorf("path %s: got %s, %v", p, got, err)
		}
	}
}

func TestResolveModelPathOfflineFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close()
	t.Setenv("HF_ENDPOINT", endpoint)
	a := pullTestApp(&bytes.Buffer{})
	cfg := defaultConfig()
	cfg.Model.CacheDir = t.TempDir()
	start := time.Now()
	_, err = a.resolveModelPath(pullTestCommand(true), &cfg)
	if err == nil {
		t.Fatal("resolved a model with the server unreachable")
	}
	msg := err.Error()
	for _, want := range []string{"--model", endpoint + "/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q8_0.gguf", "qwen2.5-0.5b-instruct-q8_0.gguf"} {
		if !strings.Contains(msg, want) {
			t.Errorf("offline error lacks %q:\n%s", want, msg)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to fail", d)
	}
	if ents, _ := os.ReadDir(cfg.Model.CacheDir); len(ents) != 0 {
		t.Errorf("cache holds %v", ents)
	}
}

func TestBarProgressShowsSizeAndResume(t *testing.T) {
	var out bytes.Buffer
	b := &barProgress{w: &out, file: "m.gguf"}
	b.Update(400_000, 1_000_000) // resumed with 400 kB already there
	b.Update(700_000, 1_000_000)
	b.Update(1_000_000, 1_000_000)
	b.Finish()
	s := out.String()
	for _, want := range []string{"m.gguf (resumed, 400.0 kB already here)", "600 kB", "100%"} {
		if !strings.Contains(s, want) {
			t.Errorf("progress output lacks %q:\n%q", want, s)
		}
	}
}
