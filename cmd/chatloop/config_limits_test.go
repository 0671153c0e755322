package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigRefusedBeforeParsing: a config file too large, too deeply
// nested or with too many dotted key parts is refused at once, naming the
// limit, instead of costing the TOML parser seconds (8,000 levels of inline
// tables took 9.8 s); NaN and out-of-range sampling values and absurd
// worker and queue sizes are refused naming their key.
func TestConfigRefusedBeforeParsing(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, text, want string
	}{
		{"inline tables", "[model]\nstop = " + strings.Repeat("{a=", 8000) + "1" + strings.Repeat("}", 8000) + "\n", "nested"},
		{"arrays", "[model]\nstop = " + strings.Repeat("[", 8000) + strings.Repeat("]", 8000) + "\n", "nested"},
		{"dotted key", strings.Repeat("a.", 8000) + "b = 1\n", "dotted"},
		{"size", "# " + strings.Repeat("x", maxConfigBytes) + "\n", "larger than"},
		{"top_p NaN", "[model.sampling]\ntop_p = nan\n", "top_p"},
		{"top_p 5", "[model.sampling]\ntop_p = 5.0\n", "top_p"},
		{"temperature -5", "[model.sampling]\ntemperature = -5.0\n", "temperature"},
		{"queue_size 2^62", "[bot]\nqueue_size = 4611686018427387904\n", "queue_size"},
		{"workers", "[bot]\nworkers = 100000\n", "workers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := loadConfig(write(tc.text), true, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "c.toml") {
				t.Errorf("err %q does not name the file", err)
			}
			// Not a timing test of speed: a refusal before parsing is
			// orders of magnitude under this; the parser took seconds.
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("refusing took %v", d)
			}
		})
	}
	// Strings and comments holding brackets, dots and braces are no
	// nesting; a realistic file passes.
	ok := "# a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\n" +
		"[bot]\nsystem_prompt = \"" + strings.Repeat("[{.", 40) + "\"\nprefix = '''" + strings.Repeat("{", 40) + "'''\n" +
		"[model]\nstop = [\"a\", \"b\"]\n[model.sampling]\ntop_p = 0.95\n"
	if _, err := loadConfig(write(ok), true, nil); err != nil {
		t.Errorf("a sane file: %v", err)
	}
}

func FuzzConfigShape(f *testing.F) {
	f.Add([]byte("[bot]\nworkers = 2\n"))
	f.Add([]byte("a = \"\\\"[[\"\nb = '''x\n[[{'''\n"))
	f.Add([]byte("a = [[[{b={c=1}}]]]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = checkConfigShape(data) // must not panic or hang
	})
}
