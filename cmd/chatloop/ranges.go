package main

import (
	"fmt"
	"math"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// numRange is the values a numeric flag accepts when it is given.
type numRange struct {
	min, max float64
	// exclusiveMin makes min itself invalid (a learning rate of 0).
	exclusiveMin bool
}

func (r numRange) check(v float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("%v is not a finite number", v)
	case r.exclusiveMin && v <= r.min:
		return fmt.Errorf("%v must be above %v", v, r.min)
	case v < r.min || v > r.max:
		return fmt.Errorf("%v is not between %v and %v", v, r.min, r.max)
	}
	return nil
}

// Limits shared by keys and flags.
const (
	maxContext   = 1 << 20 // tokens: far beyond any model chatloop runs
	maxAnswer    = 1 << 20 // tokens of one answer
	maxThreads   = 4096
	maxParallel  = 256
	maxBestOf    = 64
	maxSampleVal = 100 // temperature, repeat penalty
)

// flagRanges gives the range of every numeric flag, by name; a flag is
// checked only when it was given (its default may be a sentinel such as
// -1 for "from the configuration"). The same name means the same thing on
// every command.
var flagRanges = map[string]numRange{
	"threads":            {min: 0, max: maxThreads},
	"context":            {min: 0, max: maxContext},
	"max-tokens":         {min: 1, max: maxAnswer},
	"parallel":           {min: 0, max: maxParallel},
	"temperature":        {min: 0, max: maxSampleVal},
	"top-k":              {min: 0, max: 1 << 24},
	"top-p":              {min: 0, max: 1},
	"min-p":              {min: 0, max: 1},
	"repeat-penalty":     {min: 0, max: maxSampleVal},
	"repetitions":        {min: 1, max: 1000},
	"pp":                 {min: 1, max: maxContext},
	"tg":                 {min: 1, max: maxContext},
	"epochs":             {min: 1, max: 1e6},
	"hidden":             {min: 0, max: 1 << 16},
	"lr":                 {min: 0, max: 10, exclusiveMin: true},
	"batch":              {min: 1, max: 1 << 16},
	"held-out":           {min: -1, max: 0.9},
	"holdout":            {min: 0, max: 0.9},
	"patience":           {min: -1, max: 1e6},
	"kto-weight":         {min: -1, max: 100},
	"beta":               {min: 0, max: 100, exclusiveMin: true},
	"rank":               {min: 1, max: 1 << 12},
	"alpha":              {min: 0, max: 1 << 16, exclusiveMin: true},
	"max-len":            {min: 0, max: maxContext},
	"checkpoint-every":   {min: 0, max: 1e9},
	"max-pairs-per-user": {min: 0, max: 1e9},
	"min-votes":          {min: 0, max: 1e9},
	"min-score":          {min: -1e9, max: 1e9},
	"seed":               {min: 0, max: math.MaxUint64},
}

// checkNumericFlags range-checks every numeric flag given to cmd, before
// the command does anything.
func checkNumericFlags(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if err != nil {
			return
		}
		switch f.Value.Type() {
		case "int", "int64", "int32", "uint", "uint64", "float64", "float32":
		default:
			return
		}
		v, perr := strconv.ParseFloat(f.Value.String(), 64)
		if perr != nil {
			err = fmt.Errorf("--%s %s: not a number", f.Name, f.Value.String())
			return
		}
		r, ok := flagRanges[f.Name]
		if !ok {
			r = numRange{min: -math.MaxFloat64, max: math.MaxFloat64} // finite, at least
		}
		if cerr := r.check(v); cerr != nil {
			err = fmt.Errorf("--%s: %w", f.Name, cerr)
		}
	})
	return err
}
