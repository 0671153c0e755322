//go:build unix

package hub

import (
	"context"
	"errors"
	"os"
	"testing"
)

func TestPullRefusesWhileAnotherDownloads(t *testing.T) {
	f := newFakeHF(t)
	content := randomBytes(10_000, 13)
	f.add("o/r/m.gguf", content)
	cache := Cache{Dir: t.TempDir()}
	other, err := os.OpenFile(partAt(t, cache, "hf://o/r/m.gguf"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := lockPart(other); err != nil {
		t.Fatal(err)
	}
	_, err = newPuller(f).Pull(context.Background(), hfSource(t, "hf://o/r/m.gguf"), cache)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("got %v, want ErrBusy", err)
	}
	if f.gets() != 0 {
		t.Errorf("downloaded while another process held the file")
	}
	other.Close() // the other process ends
	m, err := newPuller(f).Pull(context.Background(), hfSource(t, "hf://o/r/m.gguf"), cache)
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, m, content)
}
