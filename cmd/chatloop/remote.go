package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// openRemoteBackend connects to the OpenAI-compatible server the
// configuration names.
func (a *app) openRemoteBackend(cmd *cobra.Command, cfg *Config) (*backend, error) {
	return nil, errors.New("the openai backend is not built yet: use --backend demo")
}
