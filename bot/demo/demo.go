// Package demo is a clearly-labelled stand-in generator that needs no
// model: it answers by describing and echoing the question, word by word.
// It lets the whole pipeline (adapters, core, feedback) run before a model
// is downloaded, and it is what "backend = demo" selects.
package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chatloop/chatloop/bot"
)

// Generator is the demo backend.
type Generator struct {
	// Delay between streamed words (0: none).
	Delay time.Duration
}

// New returns a demo generator.
func New() *Generator { return &Generator{} }

// Generate answers with a labelled echo of the last user turn, honouring
// the seed so that regenerations differ.
func (g *Generator) Generate(ctx context.Context, req bot.Request, onToken func(string)) (bot.Result, error) {
	var last string
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == bot.RoleUser {
			last = req.Messages[i].Content
			break
		}
	}
	text := fmt.Sprintf("[demo %06x] You said: %s", req.Sampling.Seed&0xffffff, last)
	words := strings.SplitAfter(text, " ")
	res := bot.Result{Model: bot.ModelInfo{Backend: "demo", Name: "demo-echo"}}
	for _, w := range req.Messages {
		res.PromptTokens += len(strings.Fields(w.Content))
	}
	for i, w := range words {
		if req.MaxTokens > 0 && i >= req.MaxTokens {
			res.Truncated = true
			break
		}
		if err := ctx.Err(); err != nil {
			res.Truncated = true
			return res, err
		}
		if g.Delay > 0 {
			select {
			case <-ctx.Done():
				res.Truncated = true
				return res, ctx.Err()
			case <-time.After(g.Delay):
			}
		}
		onToken(w)
		res.Text += w
		res.AnswerTokens++
	}
	return res, nil
}
