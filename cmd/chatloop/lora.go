package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/chatloop/chatloop/model"
)

// loraFlags are the LoRA adapter flags of the commands that load the local
// engine: --lora FILE or FILE:SCALE (repeatable), --lora-merge and
// --no-lora. Given, they replace [model] adapters and adapter_scales.
type loraFlags struct {
	files []string
	merge bool
	none  bool
}

func (f *loraFlags) bind(fl *pflag.FlagSet) {
	fl.StringArrayVar(&f.files, "lora", nil, "LoRA adapter (llama.cpp's GGUF format) to serve with the model, as FILE or FILE:SCALE (repeatable; default: [model] adapters)")
	fl.BoolVar(&f.merge, "lora-merge", false, "add the adapters into the weights at load instead of beside them at every token (default: [model] merge_adapters)")
	fl.BoolVar(&f.none, "no-lora", false, "serve the base model alone, without [model] adapters")
}

// apply puts the flags that were given over the [model] section.
func (f *loraFlags) apply(m *ModelConfig) error {
	if f.none {
		if len(f.files) > 0 {
			return fmt.Errorf("--no-lora and --lora exclude each other")
		}
		m.Adapters, m.AdapterScales = nil, nil
	}
	if len(f.files) > 0 {
		m.Adapters, m.AdapterScales = nil, nil
		for _, s := range f.files {
			path, scale, err := parseLoRAFlag(s)
			if err != nil {
				return err
			}
			m.Adapters = append(m.Adapters, path)
			m.AdapterScales = append(m.AdapterScales, scale)
		}
	}
	if f.merge {
		m.MergeAdapters = true
	}
	return nil
}

// parseLoRAFlag splits "FILE:SCALE"; a value whose part after the last
// colon is not a number is a file name as it is, with scale 1.
func parseLoRAFlag(s string) (string, float64, error) {
	if s == "" {
		return "", 0, fmt.Errorf("--lora needs a file")
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 {
		if scale, err := strconv.ParseFloat(s[i+1:], 64); err == nil {
			if math.IsNaN(scale) || math.IsInf(scale, 0) {
				return "", 0, fmt.Errorf("--lora %s: scale %v is not a finite number", s, scale)
			}
			return s[:i], scale, nil
		}
	}
	return s, 1, nil
}

// validateAdapters checks the [model] adapter keys.
func (m *ModelConfig) validateAdapters() error {
	if len(m.AdapterScales) > len(m.Adapters) {
		return fmt.Errorf("key model.adapter_scales: %d scales for %d adapters", len(m.AdapterScales), len(m.Adapters))
	}
	for i, p := range m.Adapters {
		if p == "" {
			return fmt.Errorf("key model.adapters: entry %d is empty", i+1)
		}
	}
	for _, s := range m.AdapterScales {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return fmt.Errorf("key model.adapter_scales: %v is not a finite number", s)
		}
	}
	return nil
}

// engineAdapters are the adapters of [model] for model.Options: a scale
// missing from adapter_scales is 1.
func (m *ModelConfig) engineAdapters() []model.Adapter {
	var out []model.Adapter
	for i, p := range m.Adapters {
		scale := 1.0
		if i < len(m.AdapterScales) {
			scale = m.AdapterScales[i]
		}
		out = append(out, model.Adapter{Path: p, Scale: float32(scale)})
	}
	return out
}

// printAdapters lists the served adapters, one line each.
func printAdapters(w io.Writer, ads []model.AdapterInfo) {
	for i, a := range ads {
		label := "adapter:"
		if i > 0 {
			label = ""
		}
		how := "side path"
		if a.Merged {
			how = "merged"
		}
		fmt.Fprintf(w, "%-15s %s %s (scale %g, alpha %g, rank %d, %d matrices, %s, sha256 %s)\n", label, a.Short, a.Path, a.Scale, a.Alpha, a.Rank, a.Pairs, how, a.SHA256)
	}
}

// adapterSuffix joins the adapters' short names: "" for the base alone.
func adapterSuffix(ads []model.AdapterInfo) string {
	var b strings.Builder
	for _, a := range ads {
		b.WriteString(a.Short)
	}
	return b.String()
}
