package main

import (
	"encoding/json"
	"strings"
	"testing"
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
	if o := def.Model.engineOptions(); o.Parallel != 4 || o.PrefixCache != 512<<20 {
		t.Errorf("defaults: options %+v, want Parallel 4, PrefixCache 512 MiB", o)
	}
	for _, bad := range [][]string{{"CHATLOOP_MODEL_PARALLEL=0"}, {"CHATLOOP_MODEL_PREFIX_CACHE_MB=-1"}} {
		if _, err := loadConfig("missing.toml", false, bad); err == nil || !strings.Contains(err.Error(), "model.p") {
			t.Errorf("%v: got %v, want an error naming the key", bad, err)
		}
	}
}
