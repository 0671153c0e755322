package main

import (
	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/model"
)

// loadEngine loads the local model cfg.Model names (a file, a catalogue
// name or a reference, pulled on first use) with cfg.Model's engine
// options. It is the one way every command opens the engine: chat and run
// (the local backend), the model subcommands and the reward commands
// (the backbone). Commands put their flags into cfg.Model first.
func (a *app) loadEngine(cmd *cobra.Command, cfg *Config) (*model.Engine, error) {
	path, err := a.resolveModelPath(cmd, cfg)
	if err != nil {
		return nil, err
	}
	opts := cfg.Model.engineOptions()
	opts.Log = a.logger()
	return model.Load(path, opts)
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
