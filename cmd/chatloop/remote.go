package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/model/remote"
)

// openRemoteBackend connects to the OpenAI-compatible server the
// configuration names.
func (a *app) openRemoteBackend(cmd *cobra.Command, cfg *Config) (*backend, error) {
	m := cfg.Model
	if strings.TrimSpace(m.BaseURL) == "" {
		return nil, errors.New("key model.base_url: the openai backend needs the server's API root, such as http://127.0.0.1:11434/v1")
	}
	keyEnv := m.APIKeyEnv
	if keyEnv == "" {
		keyEnv = "OPENAI_API_KEY"
	}
	c := &remote.Client{
		BaseURL: m.BaseURL,
		APIKey:  strings.TrimSpace(os.Getenv(keyEnv)),
		KeyEnv:  keyEnv,
		Timeout: m.Timeout.Duration,
		Log:     a.logger(),
	}
	model := m.RemoteModel
	if model == "" {
		// One model served (llama.cpp's server, a single vLLM model): use it.
		ctx, cancel := context.WithTimeout(cmdContext(cmd), 15*time.Second)
		ids, err := c.Models(ctx)
		cancel()
		switch {
		case err != nil:
			return nil, fmt.Errorf("key model.remote_model is empty and the server's model list is unavailable: %w", err)
		case len(ids) == 1:
			model = ids[0]
			a.logger().Info("using the server's only model", "model", model, "base_url", m.BaseURL)
		case len(ids) == 0:
			return nil, fmt.Errorf("key model.remote_model is empty and %s serves no model", m.BaseURL)
		default:
			return nil, fmt.Errorf("key model.remote_model is empty and %s serves several models: set it to one of %s", m.BaseURL, strings.Join(ids, ", "))
		}
	}
	return &backend{
		gen:   &remoteGenerator{client: c, model: model, log: a.logger()},
		close: func() error { return nil },
	}, nil
}

// remoteGenerator bridges the core's Generator to the remote client.
type remoteGenerator struct {
	client *remote.Client
	model  string
	log    *slog.Logger
}

var _ bot.Generator = (*remoteGenerator)(nil)

func (g *remoteGenerator) Generate(ctx context.Context, req bot.Request, onToken func(string)) (bot.Result, error) {
	resp, err := g.client.Chat(ctx, remote.Request{
		Model:       g.model,
		Messages:    req.Messages,
		Temperature: req.Sampling.Temperature,
		TopP:        req.Sampling.TopP,
		Seed:        req.Sampling.Seed,
		MaxTokens:   req.MaxTokens,
		Stop:        req.Stop,
		Tools:       req.Tools,
	}, onToken)
	name := resp.Model
	if name == "" {
		name = g.model
	}
	res := bot.Result{
		Text:         resp.Text,
		PromptTokens: resp.PromptTokens,
		AnswerTokens: resp.CompletionTokens,
		Truncated:    resp.FinishReason == "length",
		Model:        bot.ModelInfo{Backend: "openai", Name: name},
		// What the server was sent: top_k, min_p and repeat_penalty are
		// the local engine's and are not part of the request.
		Sampling:  &bot.Sampling{Temperature: req.Sampling.Temperature, TopP: req.Sampling.TopP, Seed: req.Sampling.Seed},
		ToolCalls: resp.ToolCalls,
	}
	if err != nil {
		if errors.Is(err, remote.ErrStreamInterrupted) && resp.Text != "" && ctx.Err() == nil {
			// Keep what was said; it is recorded as cut short.
			g.log.Warn("remote answer cut short", "model", name, "err", err)
			res.Truncated = true
			return res, nil
		}
		if ctx.Err() != nil {
			res.Truncated = true
		}
		return res, err
	}
	return res, nil
}
