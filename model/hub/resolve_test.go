package hub

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestResolverAsksBeforeDownloading(t *testing.T) {
	f := newFakeHF(t)
	content := randomBytes(3000, 21)
	f.add("o/r/m.gguf", content)
	cache := Cache{Dir: t.TempDir()}
	var asked []Download
	r := &Resolver{Cache: cache, Puller: newPuller(f), Confirm: func(d Download) bool { asked = append(asked, d); return false }}

	_, err := r.Resolve(context.Background(), "", "hf://o/r/m.gguf")
	if !errors.Is(err, ErrDeclined) || !strings.Contains(err.Error(), "--model") {
		t.Fatalf("declined download: %v, want ErrDeclined with a --model hint", err)
	}
	if len(asked) != 1 || asked[0].Size != HumanBytes(3000) || asked[0].Dir != cache.Dir || asked[0].Host == "" {
		t.Errorf("Confirm saw %+v", asked)
	}
	if files := cacheFiles(t, cache.Dir); len(files) != 0 {
		t.Errorf("a declined download left %v", files)
	}

	r.Confirm = func(Download) bool { return true }
	path, err := r.Resolve(context.Background(), "", "hf://o/r/m.gguf")
	if err != nil {
		t.Fatal(err)
	}
	if path != cache.PathFor(hfSource(t, "hf://o/r/m.gguf")) {
		t.Errorf("path %s", path)
	}
	// The path, given as a reference, resolves from the cache now.
	r.Confirm = func(Download) bool { t.Error("asked again for a cached model"); return false }
	if again, err := r.Resolve(context.Background(), "hf://o/r/m.gguf", "other"); err != nil || again != path {
		t.Errorf("cached: %s, %v", again, err)
	}
}

func TestResolverOfflineNamesTheFile(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close()
	r := &Resolver{Cache: Cache{Dir: t.TempDir()}, Puller: &Puller{Endpoint: endpoint, HTTP: NewHTTPClient(2 * time.Second)}}
	_, err = r.Resolve(context.Background(), "", "")
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	for _, want := range []string{"--model /path/to/qwen2.5-0.5b-instruct-q8_0.gguf", endpoint + "/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q8_0.gguf"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("offline error lacks %q:\n%v", want, err)
		}
	}
}

func TestResolverPassesFilesThrough(t *testing.T) {
	r := &Resolver{Cache: Cache{Dir: t.TempDir()}, Puller: &Puller{Endpoint: "http://127.0.0.1:1"}}
	for _, p := range []string{"missing.gguf", "./dir/x.gguf"} {
		if got, err := r.Resolve(context.Background(), p, ""); err != nil || got != p {
			t.Errorf("Resolve(%q) = %q, %v; want the path itself for the loader to report", p, got, err)
		}
	}
	if _, err := r.Resolve(context.Background(), "", "no such//model"); err == nil || !strings.Contains(err.Error(), "model.name") {
		t.Errorf("bad name: %v", err)
	}
}
