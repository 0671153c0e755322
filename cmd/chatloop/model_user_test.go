package main

import (
	"net"
	"regexp"
	"strings"
	"testing"
)

// TestModelGenerateDrawsASeed is issue 15's item 8: `model generate`
// without --seed (and with seed 0 in the configuration) draws a fresh
// seed each run, as chat does, and says which, so that --seed repeats it.
func TestModelGenerateDrawsASeed(t *testing.T) {
	path := tinyModel(t)
	args := []string{"model", "generate", "--model", path, "--prompt", "hello", "--temperature", "50", "--top-k", "0", "--top-p", "1", "--min-p", "0", "--max-tokens", "12", "--threads", "1"}
	seedRe := regexp.MustCompile(`seed: (\d+)`)
	gen := func(extra ...string) (text, seed string) {
		t.Helper()
		out, errOut, code := run(t, "", append(args, extra...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		m := seedRe.FindStringSubmatch(errOut)
		if m == nil {
			t.Fatalf("the seed is not reported: %q", errOut)
		}
		return out, m[1]
	}
	text1, seed1 := gen()
	text2, seed2 := gen()
	if seed1 == seed2 || text1 == text2 {
		t.Errorf("two runs without --seed: seeds %s and %s, texts %q and %q; want fresh ones", seed1, seed2, text1, text2)
	}
	again, seed3 := gen("--seed", seed1)
	if again != text1 || seed3 != seed1 {
		t.Errorf("--seed %s gave %q (seed %s), want the first run's %q", seed1, again, seed3, text1)
	}
}

// TestModelSubcommandsTakeYes: every model subcommand that may pull the
// model takes --yes, as chat and run do.
func TestModelSubcommandsTakeYes(t *testing.T) {
	path := tinyModel(t)
	if _, errOut, code := run(t, "", "model", "info", "--model", path, "--yes"); code != 0 {
		t.Errorf("model info --yes: exit %d: %s", code, errOut)
	}
	for _, sub := range []string{"tokenize", "generate", "bench"} {
		if _, errOut, code := run(t, "", "model", sub, "--yes", "--help"); code != 0 {
			t.Errorf("model %s --yes: exit %d: %s", sub, code, errOut)
		}
	}
}

// TestModelPullOffline: `model pull` that cannot reach the server says
// where to download the file and how to pass it with --model, as chat
// does.
func TestModelPullOffline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	dir := t.TempDir()
	t.Setenv("HF_ENDPOINT", dead)
	t.Setenv("XDG_CACHE_HOME", dir)
	t.Setenv("HOME", dir)
	_, errOut, code := run(t, "", "model", "pull", "qwen2.5-0.5b-instruct")
	if code == 0 || !strings.Contains(errOut, dead+"/Qwen/") || !strings.Contains(errOut, "--model") {
		t.Errorf("exit %d, stderr %q; want the download URL on %s and a --model hint", code, errOut, dead)
	}
}

// TestVersion: `chatloop --version` prints the version, the commit and
// the kernel paths this CPU gets.
func TestVersion(t *testing.T) {
	out, errOut, code := run(t, "", "--version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"chatloop ", "commit ", "matmul ", "attention ", "go1."} {
		if !strings.Contains(out, want) {
			t.Errorf("--version lacks %q:\n%s", want, out)
		}
	}
}
