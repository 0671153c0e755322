package reward

import (
	"context"
	"fmt"

	"github.com/chatloop/chatloop/model/chat"
)

// FeatureLastToken names the features a ModelFeaturizer takes: the final
// hidden state (after the output norm) of the last token of the prompt
// and answer rendered with the model's chat template. A head records it,
// so that a head trained on other features is refused.
const FeatureLastToken = "last-token-final-norm/v1"

// Embedder is the language model a ModelFeaturizer reads: the local
// engine (*model.Engine) satisfies it.
type Embedder interface {
	// FileSHA256 is the hex digest of the model file.
	FileSHA256() (string, error)
	// EmbedDim is the length of the vectors EmbedMessages returns.
	EmbedDim() int
	// EmbedMessages renders the prompt and the answer with the chat
	// template, runs the model over them and returns the final hidden
	// state of the last token.
	EmbedMessages(ctx context.Context, prompt []Message, answer string) ([]float32, error)
}

// ToolEmbedder is an Embedder that also renders the tools the model was
// offered (*model.Engine is one).
type ToolEmbedder interface {
	EmbedMessagesTools(ctx context.Context, prompt []Message, tools []chat.Tool, answer string) ([]float32, error)
}

// ModelFeaturizer makes reward features with a frozen language model: the
// backbone of a head.
type ModelFeaturizer struct {
	e  Embedder
	bb Backbone
}

// NewModelFeaturizer identifies e's model (name is for messages) and
// returns its featurizer. It waits for the file's digest.
func NewModelFeaturizer(e Embedder, name string) (*ModelFeaturizer, error) {
	sum, err := e.FileSHA256()
	if err != nil {
		return nil, fmt.Errorf("reward: identifying the model: %w", err)
	}
	return &ModelFeaturizer{e: e, bb: Backbone{SHA256: sum, Name: name, Dim: e.EmbedDim(), Feature: FeatureLastToken}}, nil
}

// Backbone implements Featurizer.
func (f *ModelFeaturizer) Backbone() Backbone { return f.bb }

// Features implements Featurizer.
func (f *ModelFeaturizer) Features(ctx context.Context, prompt []Message, answer string) ([]float32, error) {
	return f.e.EmbedMessages(ctx, prompt, answer)
}

// FeaturesWithTools implements ToolFeaturizer: the tools offered are
// rendered when the model can render them (a ToolEmbedder), else left out.
func (f *ModelFeaturizer) FeaturesWithTools(ctx context.Context, tools []chat.Tool, prompt []Message, answer string) ([]float32, error) {
	if te, ok := f.e.(ToolEmbedder); ok && len(tools) > 0 {
		return te.EmbedMessagesTools(ctx, prompt, tools, answer)
	}
	return f.e.EmbedMessages(ctx, prompt, answer)
}

// Scorer scores answers with a trained head over a featurizer's vectors:
// the bot's Scorer for best-of-n.
type Scorer struct {
	Featurizer Featurizer
	Head       *Head
}

// Score returns the head's reward of answer to prompt.
func (s *Scorer) Score(ctx context.Context, prompt []Message, answer string) (float64, error) {
	x, err := s.Featurizer.Features(ctx, prompt, answer)
	if err != nil {
		return 0, fmt.Errorf("reward: %w", err)
	}
	return s.Head.Score(x)
}
