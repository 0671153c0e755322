package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// openLocalBackend loads the GGUF model the configuration names.
func (a *app) openLocalBackend(cmd *cobra.Command, cfg *Config) (*backend, error) {
	return nil, errors.New("the local model engine is not built yet: use --backend demo")
}
