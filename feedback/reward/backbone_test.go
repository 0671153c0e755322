package reward

import (
	"context"
	"errors"
	"testing"
)

// lengthEmbedder is a model whose "hidden state" is the lengths of the
// prompt's last message and of the answer.
type lengthEmbedder struct {
	sum  string
	err  error
	seen []Message
}

func (e *lengthEmbedder) FileSHA256() (string, error) { return e.sum, e.err }
func (e *lengthEmbedder) EmbedDim() int               { return 2 }
func (e *lengthEmbedder) EmbedMessages(_ context.Context, prompt []Message, answer string) ([]float32, error) {
	e.seen = prompt
	return []float32{float32(len(prompt[len(prompt)-1].Content)), float32(len(answer))}, nil
}

func TestModelFeaturizerAndScorer(t *testing.T) {
	e := &lengthEmbedder{sum: "ab12"}
	f, err := NewModelFeaturizer(e, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	want := Backbone{SHA256: "ab12", Name: "tiny", Dim: 2, Feature: FeatureLastToken}
	if f.Backbone() != want {
		t.Errorf("Backbone() = %+v, want %+v", f.Backbone(), want)
	}
	// A linear head that rewards long answers: w = (0, 1), bias 0.
	head := &Head{Backbone: want, Mean: []float64{0, 0}, Std: []float64{1, 1}, W2: []float64{0, 1, 0}}
	s := &Scorer{Featurizer: f, Head: head}
	prompt := []Message{{Role: "user", Content: "hi"}}
	short, err := s.Score(context.Background(), prompt, "ok")
	if err != nil {
		t.Fatal(err)
	}
	long, err := s.Score(context.Background(), prompt, "a much longer answer")
	if err != nil {
		t.Fatal(err)
	}
	if !(long > short) || len(e.seen) != 1 || !e.seen[0].Equal(prompt[0]) {
		t.Errorf("scores short %v, long %v; the model saw %v", short, long, e.seen)
	}

	broken := errors.New("no digest")
	if _, err := NewModelFeaturizer(&lengthEmbedder{err: broken}, "x"); !errors.Is(err, broken) {
		t.Errorf("a model without a digest: %v", err)
	}
}
