package main

import (
	"runtime"

	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/model"
)

// loadEngine loads the local model cfg.Model names (a file, a catalogue
// name or a reference, pulled on first use) with cfg.Model's engine
// options. It is the one way every command opens the engine: chat and run
// (the local backend), serve, the model subcommands, the reward commands
// (the backbone) and tune (loadTrainingBase). Commands put their flags into cfg.Model first.
func (a *app) loadEngine(cmd *cobra.Command, cfg *Config) (*model.Engine, error) {
	path, err := a.resolveModelPath(cmd, cfg)
	if err != nil {
		return nil, err
	}
	opts := cfg.Model.engineOptions()
	opts.Log = a.logger()
	return model.Load(path, opts)
}

// loadTrainingBase loads the base model that tune and tune --online train
// on, through loadEngine, as training needs it: without adapters (the one
// being trained rides beside the weights), one sequence at a time, no
// prefix cache, and the weights in the file's layout, which the training
// pass reads.
func (a *app) loadTrainingBase(cmd *cobra.Command, cfg *Config, modelFlag string, threads int) (*model.Engine, error) {
	c := *cfg
	if modelFlag != "" {
		c.Model.Path = modelFlag
	}
	c.Model.Threads, c.Model.Parallel, c.Model.PrefixCacheMB = threads, 1, 0
	c.Model.Repack, c.Model.PackCache = false, false
	c.Model.Adapters, c.Model.AdapterScales, c.Model.MergeAdapters = nil, nil, false
	return a.loadEngine(cmd, &c)
}

// trainingThreads is the threads tune trains with: --threads when given
// (flag >= 0), else [model] threads, and 0 means one per core.
func trainingThreads(cfg *Config, flag int) int {
	threads := cfg.Model.Threads
	if flag >= 0 {
		threads = flag
	}
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	return threads
}

// bindNoRepack adds --no-repack, the one switch over [model] repack that
// every command loading the engine takes.
func bindNoRepack(cmd *cobra.Command, noRepack *bool) {
	cmd.Flags().BoolVar(noRepack, "no-repack", false, "keep the local model's weights in the file's layout instead of this CPU's packed layouts (default: [model] repack)")
}

// applyNoRepack turns [model] repack off when --no-repack was given.
func applyNoRepack(cfg *Config, noRepack bool) {
	if noRepack {
		cfg.Model.Repack = false
	}
}
