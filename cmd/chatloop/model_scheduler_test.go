package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/ggml"
)

func TestModelBenchParallel(t *testing.T) {
	path := tinyModel(t)
	out, errOut, code := run(t, "", "model", "bench", "--model", path, "--json", "--pp", "16", "--tg", "4", "--repetitions", "1", "--threads", "1", "--parallel", "3")
	if code != 0 {
		t.Fatalf("bench --parallel: exit %d: %s", code, errOut)
	}
	var res struct {
		PP       float64 `json:"pp16"`
		TG       float64 `json:"tg4"`
		RSS      int64   `json:"rss_bytes"`
		Parallel *struct {
			N    int     `json:"n"`
			TokS float64 `json:"tok_s"`
		} `json:"tg4_parallel"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench --json: %v: %q", err, out)
	}
	if res.PP <= 0 || res.TG <= 0 || res.RSS <= 0 || res.Parallel == nil || res.Parallel.N != 3 || res.Parallel.TokS <= 0 {
		t.Errorf("bench --parallel 3 figures: %s", out)
	}
	if _, errOut, code := run(t, "", "model", "bench", "--model", path, "--parallel", "-2"); code == 0 || !strings.Contains(errOut, "--parallel") {
		t.Errorf("--parallel -2: exit %d, stderr %q", code, errOut)
	}
}

func TestEngineConfigKeys(t *testing.T) {
	cfg, err := loadConfig("missing.toml", false, []string{"CHATLOOP_MODEL_PARALLEL=8", "CHATLOOP_MODEL_PREFIX_CACHE_MB=0"})
	if err != nil {
		t.Fatal(err)
	}
	opts := cfg.Model.engineOptions()
	if opts.Parallel != 8 || opts.PrefixCache >= 0 {
		t.Errorf("parallel 8, prefix_cache_mb 0: options %+v, want Parallel 8 and no prefix cache (negative)", opts)
	}
	def := defaultConfig()
	if o := def.Model.engineOptions(); o.Parallel != 4 || o.PrefixCache != 512<<20 || !o.Repack.On() {
		t.Errorf("defaults: options %+v, want Parallel 4, PrefixCache 512 MiB, repacking", o)
	}
	cfg, err = loadConfig("missing.toml", false, []string{"CHATLOOP_MODEL_REPACK=false"})
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.Model.engineOptions(); o.Repack != model.RepackOff {
		t.Errorf("repack false: options %+v, want RepackOff", o)
	}
	for _, bad := range [][]string{{"CHATLOOP_MODEL_PARALLEL=0"}, {"CHATLOOP_MODEL_PREFIX_CACHE_MB=-1"}} {
		if _, err := loadConfig("missing.toml", false, bad); err == nil || !strings.Contains(err.Error(), "model.p") {
			t.Errorf("%v: got %v, want an error naming the key", bad, err)
		}
	}
}

// TestModelBenchRepack: bench --json reports the bytes repacked at load
// and the load time; --no-repack (and [model] repack = false) keep the
// file's layout; info names what was repacked.
func TestModelBenchRepack(t *testing.T) {
	path := tinyModel(t)
	if !ggml.Packable(ggml.Q8_0, 4096, 4096) {
		t.Skip("no packed Q8_0 layout on this CPU and build")
	}
	type result struct {
		Repacked *int64   `json:"repacked_bytes"`
		LoadMS   *float64 `json:"load_ms"`
		Kernels  string   `json:"kernels"`
	}
	bench := func(extra ...string) result {
		t.Helper()
		args := append([]string{"model", "bench", "--model", path, "--json", "--pp", "8", "--tg", "2", "--repetitions", "1", "--threads", "1"}, extra...)
		out, errOut, code := run(t, "", args...)
		if code != 0 {
			t.Fatalf("bench %v: exit %d: %s", extra, code, errOut)
		}
		var r result
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.Repacked == nil || r.LoadMS == nil {
			t.Fatalf("bench --json %v: %v: %q", extra, err, out)
		}
		return r
	}
	if r := bench(); *r.Repacked <= 0 || *r.LoadMS <= 0 || r.Kernels != ggml.BestKernels().Name() || !strings.HasSuffix(r.Kernels, " packed") {
		t.Errorf("bench: repacked %d bytes, load %v ms, kernels %q; want both positive and the packed set %q", *r.Repacked, *r.LoadMS, r.Kernels, ggml.BestKernels().Name())
	}
	if r := bench("--no-repack"); *r.Repacked != 0 || r.Kernels == "" || strings.HasSuffix(r.Kernels, "packed") {
		t.Errorf("bench --no-repack: repacked %d bytes, kernels %q; want none and a file-layout set", *r.Repacked, r.Kernels)
	}
	conf := filepath.Join(t.TempDir(), "chatloop.toml")
	if err := os.WriteFile(conf, []byte("[model]\nrepack = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := bench("--config", conf); *r.Repacked != 0 {
		t.Errorf("bench with repack = false: repacked %d bytes", *r.Repacked)
	}
	out, errOut, code := run(t, "", "model", "info", "--model", path)
	if code != 0 || !strings.Contains(out, "repacked:       15 matrices") {
		t.Errorf("model info: exit %d, %s%s; want 15 matrices repacked", code, out, errOut)
	}
	out, _, _ = run(t, "", "model", "info", "--model", path, "--no-repack")
	if !strings.Contains(out, "repacked:       none") {
		t.Errorf("model info --no-repack: %s", out)
	}
}
