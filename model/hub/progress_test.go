package hub

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLogProgress(t *testing.T) {
	var buf bytes.Buffer
	p := NewLogProgress(slog.New(slog.NewTextHandler(&buf, nil)), "m.gguf", 0)
	p.Update(0, 2_000_000)
	p.Update(1_000_000, 2_000_000)
	p.Finish()
	p.Finish() // once only
	out := buf.String()
	for _, want := range []string{`done="1.0 MB"`, `size="2.0 MB"`, "percent=50.0", "download stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Count(out, "download stopped") != 1 {
		t.Errorf("Finish logged more than once:\n%s", out)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 676_000_000: "676.0 MB", 2_020_000_000: "2.0 GB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
