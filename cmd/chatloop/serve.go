package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/server"
)

func init() {
	commands = append(commands, newServeCommand)
	secretEnv[apiKeyEnv] = true
}

// apiKeyEnv holds the key `chatloop serve` requires, when set.
const apiKeyEnv = "CHATLOOP_API_KEY"

func newServeCommand(a *app) *cobra.Command {
	var (
		f         engineFlags
		listen    string
		parallel  int
		maxTokens int
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the local model over the OpenAI-compatible API (chat completions, completions, models)",
		Long: `serve loads the local model and answers the OpenAI-compatible HTTP API
that llama.cpp's server and Ollama speak: POST /v1/chat/completions
(streamed or not), POST /v1/completions (a raw prompt), GET /v1/models and
GET /health. Concurrent requests share the engine's batched scheduler and
prefix cache, so other tools and other chatloop instances (backend =
"openai") can use one loaded model.

With CHATLOOP_API_KEY set, every /v1/ request must carry it as a bearer
token. See docs/serve.md.`,
		Example: `  chatloop serve --model qwen2.5-0.5b-instruct-q8_0.gguf
  CHATLOOP_API_KEY=sk-local chatloop serve --listen 127.0.0.1:8080
  curl -s localhost:8080/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"messages":[{"role":"user","content":"Hello"}]}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if maxTokens < 0 {
				return fmt.Errorf("--max-tokens %d: must be 0 (the context window) or more", maxTokens)
			}
			if parallel < 0 {
				return fmt.Errorf("--parallel %d: must be 0 ([model] parallel) or more", parallel)
			}
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			if parallel > 0 {
				cfg.Model.Parallel = parallel
			}
			e, cfg, err := a.load(cmd, &f, 0)
			if err != nil {
				return err
			}
			defer e.Close()
			s := cfg.Model.Sampling
			srv := server.New(e, server.Config{
				ModelID: modelID(e.Path()),
				APIKey:  os.Getenv(apiKeyEnv),
				Sampling: model.SamplingParams{
					Temperature: s.Temperature, TopK: s.TopK, TopP: s.TopP, MinP: s.MinP, RepeatPenalty: s.RepeatPenalty,
				},
				Limits: server.Limits{MaxTokens: maxTokens},
				Log:    a.logger(),
			})
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return srv.ListenAndServe(ctx, listen)
		},
	}
	f.bind(cmd)
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve on (host:port)")
	fl.IntVar(&parallel, "parallel", 0, "requests decoded together (default: [model] parallel)")
	fl.IntVar(&maxTokens, "max-tokens", 0, "the most tokens one answer may have (default: the context window)")
	return cmd
}

// modelID is the id /v1/models lists: the model file's name without its
// extension.
func modelID(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}
