package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/model"
)

// Model versions: which base and adapters wrote an answer, and the A/B
// between versions that [bot] ab_adapters asks for. See docs/versions.md.

// withABAdapters returns cfg, or a copy of it whose [model] adapters also
// list every adapter [bot] ab_adapters names (scale 1 unless [model]
// already lists it), so that one engine serves every version and each
// request chooses its own through the side path.
func withABAdapters(cfg *Config) (*Config, error) {
	ab := cfg.Bot.ABAdapters
	if len(ab) == 0 {
		return cfg, nil
	}
	if cfg.Model.MergeAdapters {
		return nil, fmt.Errorf("key bot.ab_adapters: the versions are chosen per answer, which needs the adapters beside the weights: turn model.merge_adapters (--lora-merge) off")
	}
	c := *cfg
	c.Model.Adapters = slices.Clone(cfg.Model.Adapters)
	c.Model.AdapterScales = slices.Clone(cfg.Model.AdapterScales)
	for len(c.Model.AdapterScales) < len(c.Model.Adapters) {
		c.Model.AdapterScales = append(c.Model.AdapterScales, 1)
	}
	for _, p := range ab {
		if p == "" || slices.Contains(c.Model.Adapters, p) {
			continue
		}
		c.Model.Adapters = append(c.Model.Adapters, p)
		c.Model.AdapterScales = append(c.Model.AdapterScales, 1)
	}
	return &c, nil
}

// checkABBackend refuses ab_adapters with a backend that cannot choose
// a version per answer.
func checkABBackend(cfg *Config) error {
	if len(cfg.Bot.ABAdapters) > 0 && cfg.Model.Backend != "local" {
		return fmt.Errorf("key bot.ab_adapters: comparing adapters needs model.backend = \"local\" (it is %q)", cfg.Model.Backend)
	}
	return nil
}

// adapterVersions are the adapters' identities as answers record them.
func adapterVersions(ads []model.AdapterInfo) []bot.AdapterVersion {
	var out []bot.AdapterVersion
	for _, a := range ads {
		out = append(out, bot.AdapterVersion{SHA256: a.SHA256, Scale: a.Scale, Short: a.Short})
	}
	return out
}

// versionSuffix names the adapters of a version after the base's name:
// each one's short name, with its scale when it is not 1
// ("+tuned-3f2a", "+tuned-3f2a*0.5"); "" for the base alone.
func versionSuffix(ads []model.AdapterInfo) string {
	var b strings.Builder
	for _, a := range ads {
		b.WriteString(a.Short)
		if a.Scale != 1 {
			fmt.Fprintf(&b, "*%g", a.Scale)
		}
	}
	return b.String()
}

// writeABRecords prints each version's A/B record against the others:
// choices won and lost, the share won and its 95 % Wilson interval.
func writeABRecords(w io.Writer, vs []feedback.VersionStat) {
	header := false
	for _, v := range vs {
		for _, r := range v.ABRecord {
			if !header {
				fmt.Fprintf(w, "\nA/B record\tagainst\twins\tlosses\twon\t95%% interval\n")
				header = true
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%.1f%%\t%.1f%% – %.1f%%\n", v.Version, r.Against, r.Wins, r.Losses, 100*r.WinRate, 100*r.Low, 100*r.High)
		}
	}
}
