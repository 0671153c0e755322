package reward

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/chat"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// wordsEmbedder is a model whose "hidden state" is a hashed bag of the
// words of everything it is shown: every message's role and content, the
// tools it called and their arguments, and the answer.
type wordsEmbedder struct{ dim int }

func (wordsEmbedder) FileSHA256() (string, error) { return "feed", nil }
func (e wordsEmbedder) EmbedDim() int             { return e.dim }
func (e wordsEmbedder) EmbedMessages(_ context.Context, msgs []Message, answer string) ([]float32, error) {
	var text strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&text, " %s %s", m.Role, m.Content)
		for _, c := range m.ToolCalls {
			fmt.Fprintf(&text, " call %s %s", c.Function.Name, c.Function.Arguments)
		}
	}
	text.WriteString(" " + answer)
	x := make([]float32, e.dim)
	for _, w := range strings.FieldsFunc(text.String(), func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9') }) {
		h := fnv.New32a()
		h.Write([]byte(w))
		x[h.Sum32()%uint32(e.dim)]++
	}
	return x, nil
}

// toolExport records, in a real feedback store, prompts each answered
// twice with the same final text after different searches, the good
// search voted up and the bad one down, and returns the preference
// export.
func toolExport(t *testing.T, prompts int) []byte {
	t.Helper()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s, err := feedback.Open(filepath.Join(t.TempDir(), "feedback.db"), feedback.Options{Now: func() time.Time { return t0 }, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tools := []chat.Tool{{Type: "function", Function: chat.ToolFunction{Name: "web_search", Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"}}}`)}}}
	ctx := context.Background()
	for i := range prompts {
		topic := fmt.Sprintf("topic%d", i)
		for j, step := range []struct{ query, result string }{
			{topic + " release notes", "official changelog for " + topic + " with dates"},
			{"stuff", "nothing relevant found"},
		} {
			id := fmt.Sprintf("01%04d%d", i, j)
			a := bot.Answer{ID: bot.AnswerID(id), GroupID: bot.GroupID(topic), Platform: "discord", ChatID: "c", AskerID: "u", Created: t0,
				Prompt: []bot.Turn{{Role: "user", Content: "what changed in " + topic + "?"}}, Tools: tools}
			if err := s.RecordAnswer(ctx, a); err != nil {
				t.Fatal(err)
			}
			args, _ := json.Marshal(map[string]string{"query": step.query})
			a.Steps = []bot.Turn{
				{Role: "assistant", ToolCalls: []chat.ToolCall{{ID: "call_" + id, Type: "function", Function: chat.FunctionCall{Name: "web_search", Arguments: string(args)}}}},
				{Role: chat.RoleTool, ToolCallID: "call_" + id, Name: "web_search", Content: step.result},
			}
			a.Text, a.Finished = "Here is what changed.", true
			if err := s.FinishAnswer(ctx, a); err != nil {
				t.Fatal(err)
			}
			if err := s.Vote(ctx, a.ID, "discord", "v", 1-2*j); err != nil {
				t.Fatal(err)
			}
		}
	}
	var buf bytes.Buffer
	if _, err := s.Export(ctx, &buf, feedback.ExportOptions{Format: feedback.FormatPreference}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestToolStepsReachTheRewardModel: pairs whose answers differ only in
// their tool steps (the same final text) are read from a real export with
// their steps, featurized with them, and train a head that ranks the good
// searches first; with the steps dropped, both sides of every pair are
// the same vector and the head learns nothing.
func TestToolStepsReachTheRewardModel(t *testing.T) {
	ds, err := ReadJSONL(bytes.NewReader(toolExport(t, 24)))
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Pairs) != 24 {
		t.Fatalf("%d pairs, want 24", len(ds.Pairs))
	}
	for _, p := range ds.Pairs {
		if p.Chosen != p.Rejected || len(p.ChosenSteps) != 2 || len(p.RejectedSteps) != 2 || len(p.Tools) != 1 {
			t.Fatalf("pair %+v, want the same final text after two steps each", p)
		}
		if q := p.ChosenSteps[0].ToolCalls[0].Function.Arguments; !strings.Contains(q, "release notes") {
			t.Fatalf("chosen searched %s", q)
		}
	}
	f, err := NewModelFeaturizer(wordsEmbedder{dim: 64}, "words")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	opts := TrainOptions{Seed: 3, Epochs: 80, HeldOut: -1, Patience: -1}

	withSteps, err := Featurize(ctx, ds, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	head, rep, err := Train(ctx, withSteps, f.Backbone(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.TrainAccuracy != 1 {
		t.Errorf("with steps: train accuracy %.2f, want 1", rep.TrainAccuracy)
	}
	good, _ := head.Score(withSteps.Pairs[0].Chosen)
	bad, _ := head.Score(withSteps.Pairs[0].Rejected)
	if !(good > bad) {
		t.Errorf("with steps: the good search scores %.3f, the bad %.3f", good, bad)
	}

	dropped := ds
	dropped.Pairs = slices.Clone(ds.Pairs)
	for i := range dropped.Pairs {
		dropped.Pairs[i].ChosenSteps, dropped.Pairs[i].RejectedSteps = nil, nil
	}
	without, err := Featurize(ctx, dropped, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range without.Pairs {
		if !slices.Equal(p.Chosen, p.Rejected) {
			t.Fatalf("pair %d differs without its steps", i)
		}
	}
	blind, rep, err := Train(ctx, without, f.Backbone(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.TrainAccuracy != 0.5 {
		t.Errorf("without steps: train accuracy %.2f, want 0.5 (every pair a tie, counted half)", rep.TrainAccuracy)
	}
	for i, p := range without.Pairs {
		c, _ := blind.Score(p.Chosen)
		r, _ := blind.Score(p.Rejected)
		if c != r {
			t.Errorf("without steps: pair %d scores %v and %v", i, c, r)
		}
	}

	// Scoring an answer with its steps (best-of-n, the bot's Scorer) sees
	// them too.
	sc := &Scorer{Featurizer: f, Head: head}
	p := ds.Pairs[0]
	sg, err := sc.Score(ctx, Conversation(p.Prompt, p.ChosenSteps), p.Chosen)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := sc.Score(ctx, Conversation(p.Prompt, p.RejectedSteps), p.Rejected)
	if !(sg > sb) || math.IsNaN(sg) {
		t.Errorf("scorer: good %.3f, bad %.3f", sg, sb)
	}
}

// TestReadJSONLToolRows: TRL rows with tool calls (arguments as objects,
// as the export writes them and Hugging Face datasets hold them) read
// back into steps with OpenAI-form arguments; a completion that ends in a
// call has no final answer and is refused.
func TestReadJSONLToolRows(t *testing.T) {
	row := `{"prompt":[{"role":"user","content":"q"}],"completion":[{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"web_search","arguments":{"query":"x"}}}]},{"role":"tool","name":"web_search","content":"r"},{"role":"assistant","content":"a"}],"label":true,"tools":[{"type":"function","function":{"name":"web_search"}}]}`
	ds, err := ReadJSONL(strings.NewReader(row))
	if err != nil {
		t.Fatal(err)
	}
	p := ds.Points[0]
	if p.Answer != "a" || len(p.Steps) != 2 || p.Steps[0].ToolCalls[0].Function.Arguments != `{"query":"x"}` || p.Steps[1].Content != "r" || len(p.Tools) != 1 {
		t.Errorf("point %+v", p)
	}
	bad := `{"prompt":[{"role":"user","content":"q"}],"completion":[{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"f","arguments":{}}}]}],"label":true}`
	if _, err := ReadJSONL(strings.NewReader(bad)); err == nil {
		t.Error("a completion ending in a tool call was accepted")
	}
}

// TestToolStepsReachTheModelFeatures: through the local engine (a tiny
// random model with a real vocabulary and the Qwen2.5 template) the
// features of two answers with the same text after different searches
// differ, and are one vector when the steps are dropped.
func TestToolStepsReachTheModelFeatures(t *testing.T) {
	e, err := model.Load(testmodel.Write(t, testmodel.Tiny("qwen2", ggml.Q8_0, 11)), model.Options{Threads: 2, Repack: model.RepackOff, Parallel: 1, PrefixCache: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	f, err := NewModelFeaturizer(e, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := ReadJSONL(bytes.NewReader(toolExport(t, 1)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	with, err := Featurize(ctx, ds, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	ds.Pairs[0].ChosenSteps, ds.Pairs[0].RejectedSteps = nil, nil
	without, err := Featurize(ctx, ds, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(with.Pairs[0].Chosen, with.Pairs[0].Rejected) {
		t.Error("the model's features of two answers after different searches are the same")
	}
	if !slices.Equal(without.Pairs[0].Chosen, without.Pairs[0].Rejected) {
		t.Error("without steps the same answer gives two vectors")
	}
	if slices.Equal(with.Pairs[0].Chosen, without.Pairs[0].Chosen) {
		t.Error("the steps do not change the features")
	}

	// The tools offered are rendered too, and cached apart.
	cache, err := OpenCache(filepath.Join(t.TempDir(), "features.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	cf := Cached(f, cache)
	pt := Point{Prompt: ds.Pairs[0].Prompt, Answer: "Here is what changed.", Label: true}
	offered := pt
	offered.Tools = ds.Pairs[0].Tools
	set, err := Featurize(ctx, Dataset{Points: []Point{pt, offered}}, cf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(set.Points[0].X, set.Points[1].X) || cf.Misses != 2 {
		t.Errorf("an answer offered tools has the features of one that was not (%d cache misses, want 2)", cf.Misses)
	}
	again, err := Featurize(ctx, Dataset{Points: []Point{offered}}, cf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cf.Hits != 1 || !slices.Equal(again.Points[0].X, set.Points[1].X) {
		t.Errorf("the cache did not give back the vector with tools: %d hits", cf.Hits)
	}
}

var (
	_ ToolFeaturizer = (*ModelFeaturizer)(nil)
	_ ToolFeaturizer = (*CachedFeaturizer)(nil)
	_ ToolEmbedder   = (*model.Engine)(nil)
)
