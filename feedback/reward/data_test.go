package reward

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadJSONL(t *testing.T) {
	in := `{"prompt":[{"role":"user","content":"hi"}],"chosen":[{"role":"assistant","content":"hello!"}],"rejected":[{"role":"assistant","content":"go away"}]}

{"prompt":[{"role":"user","content":"hi"}],"completion":[{"role":"assistant","content":"hey"}],"label":false}
`
	ds, err := ReadJSONL(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Pairs) != 1 || ds.Pairs[0].Chosen != "hello!" || ds.Pairs[0].Rejected != "go away" || ds.Pairs[0].Line != 1 || ds.Pairs[0].Prompt[0].Content != "hi" {
		t.Fatalf("pairs %+v", ds.Pairs)
	}
	if len(ds.Points) != 1 || ds.Points[0].Answer != "hey" || ds.Points[0].Label || ds.Points[0].Line != 3 {
		t.Fatalf("points %+v", ds.Points)
	}
	for _, bad := range []string{
		"nope",
		`{"prompt":[]}`,
		`{"prompt":[],"chosen":[{"role":"assistant","content":"x"}]}`,
		`{"prompt":[],"completion":[{"role":"assistant","content":"x"}]}`,
		`{"prompt":[],"completion":[],"label":true}`,
	} {
		_, err := ReadJSONL(strings.NewReader(in + bad + "\n"))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "line 4") {
			t.Errorf("%s: error %v, want ErrInvalid at line 4", bad, err)
		}
	}
}

func FuzzReadJSONL(f *testing.F) {
	f.Add(`{"prompt":[{"role":"user","content":"hi"}],"chosen":[{"role":"assistant","content":"a"}],"rejected":[{"role":"assistant","content":"b"}]}`)
	f.Add(`{"prompt":[],"completion":[{"content":"x"}],"label":true}` + "\n\n{}")
	f.Add("[1,2]\n{\"chosen\":null}")
	// TRL's tool-calling form: a call (arguments as an object), its result, the answer.
	f.Add(`{"prompt":[{"role":"user","content":"q"}],"chosen":[{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"s","arguments":{"q":"x"}}}]},{"role":"tool","name":"s","content":"r"},{"role":"assistant","content":"a"}],"rejected":[{"role":"assistant","content":"b"}],"tools":[{"type":"function","function":{"name":"s"}}]}`)
	f.Add(`{"prompt":[{"role":"user","content":"q"}],"completion":[{"role":"assistant","tool_calls":[{"function":{"name":"s","arguments":"{\"q\":1}"}}]},{"role":"assistant","content":"a"}],"label":false}`)
	f.Fuzz(func(t *testing.T, in string) {
		ds, err := ReadJSONL(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, p := range ds.Pairs {
			if p.Chosen == "" || p.Rejected == "" || p.Line < 1 {
				t.Fatalf("accepted pair %+v", p)
			}
		}
		for _, p := range ds.Points {
			if p.Answer == "" || p.Line < 1 {
				t.Fatalf("accepted point %+v", p)
			}
		}
	})
}

// countingFeaturizer makes vectors from the text's bytes and counts calls.
type countingFeaturizer struct {
	bb    Backbone
	calls int
}

func (c *countingFeaturizer) Backbone() Backbone { return c.bb }

func (c *countingFeaturizer) Features(ctx context.Context, prompt []Message, answer string) ([]float32, error) {
	c.calls++
	x := make([]float32, c.bb.Dim)
	for i, b := range []byte(answer + prompt[0].Content) {
		x[i%len(x)] += float32(b) / 100
	}
	return x, nil
}

func TestFeatureCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "features.db")
	ds := Dataset{
		Pairs: []Pair{
			{Prompt: []Message{{Role: "user", Content: "a"}}, Chosen: "yes", Rejected: "no"},
			{Prompt: []Message{{Role: "user", Content: "a"}}, Chosen: "yes", Rejected: "maybe"}, // "yes" again
		},
		Points: []Point{{Prompt: []Message{{Role: "user", Content: "b"}}, Answer: "yes", Label: true}}, // another prompt
	}
	inner := &countingFeaturizer{bb: Backbone{SHA256: "aa", Name: "m", Dim: 4, Feature: "f"}}
	c, err := OpenCache(path)
	if err != nil {
		t.Fatal(err)
	}
	cf := Cached(inner, c)
	set, err := Featurize(context.Background(), ds, cf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if inner.calls != 4 || cf.Misses != 4 || cf.Hits != 0 {
		t.Fatalf("first pass: %d calls, %d misses, %d hits; want 4 distinct texts", inner.calls, cf.Misses, cf.Hits)
	}
	if set.Pairs[0].Group != set.Pairs[1].Group || set.Pairs[0].Group == set.Points[0].Group {
		t.Fatal("groups do not follow prompts")
	}
	c.Close()

	// Reopened: everything comes from the file.
	c, err = OpenCache(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cf = Cached(inner, c)
	again, err := Featurize(context.Background(), ds, cf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if inner.calls != 4 || cf.Hits != 4 {
		t.Fatalf("second pass: %d calls, %d hits", inner.calls, cf.Hits)
	}
	if maxAbsDiff(again.Pairs[1].Rejected, set.Pairs[1].Rejected) != 0 {
		t.Fatal("the cached vector differs")
	}
	// Another backbone does not read this one's vectors.
	other := &countingFeaturizer{bb: Backbone{SHA256: "bb", Name: "m2", Dim: 4, Feature: "f"}}
	if _, err := Featurize(context.Background(), ds, Cached(other, c), nil); err != nil {
		t.Fatal(err)
	}
	if other.calls != 4 {
		t.Fatalf("another backbone made %d calls, want 4", other.calls)
	}
}

func maxAbsDiff(a, b []float32) float32 {
	var d float32
	for i := range a {
		d = max(d, a[i]-b[i], b[i]-a[i])
	}
	return d
}

func TestHeadSaveLoad(t *testing.T) {
	set := synthPairs(100, 8, linearRule, nil)
	h, _, err := Train(context.Background(), set, testBackbone, TrainOptions{Seed: 2, Epochs: 5, Hidden: 4})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rm.json")
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, testBackbone)
	if err != nil {
		t.Fatal(err)
	}
	x := set.Pairs[3].Chosen
	a, _ := h.Score(x)
	b, _ := got.Score(x)
	if a != b {
		t.Fatalf("score %g after loading, %g before", b, a)
	}
	other := testBackbone
	other.SHA256, other.Name = "cd34", "another"
	_, err = Load(path, other)
	if !errors.Is(err, ErrBackboneMismatch) || !strings.Contains(err.Error(), "synthetic (sha256 ab12") || !strings.Contains(err.Error(), "another (sha256 cd34") {
		t.Fatalf("loading for another backbone: %v", err)
	}
	if _, err := h.Score(x[:3]); err == nil {
		t.Fatal("no error for a short vector")
	}
	// Damaged files are refused with ErrInvalid.
	for _, bad := range []string{`{}`, `not json`, `{"format":"chatloop-reward-head","version":1,"backbone":{"dim":1},"mean":[0],"std":[0],"w2":[1,2]}`} {
		os.WriteFile(path, []byte(bad), 0o600)
		if _, err := Load(path, testBackbone); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", bad, err)
		}
	}
}

func FuzzDecodeHead(f *testing.F) {
	f.Add(`{"format":"chatloop-reward-head","version":1,"backbone":{"dim":2},"mean":[0,1],"std":[1,1],"w2":[1,2,3]}`)
	f.Add(`{"format":"chatloop-reward-head","version":1,"backbone":{"dim":1},"mean":[0],"std":[1],"hidden":2,"w1":[1,2,3,4],"w2":[1,2]}`)
	f.Fuzz(func(t *testing.T, in string) {
		h, err := Decode([]byte(in))
		if err != nil {
			return
		}
		if _, err := h.Score(make([]float32, h.Dim())); err != nil {
			t.Fatal(err)
		}
	})
}

func TestUnpaired(t *testing.T) {
	p := []Message{{Role: "user", Content: "q"}}
	ds := Dataset{
		Pairs:  []Pair{{Prompt: p, Chosen: "a", Rejected: "b"}},
		Points: []Point{{Prompt: p, Answer: "a", Label: true}, {Prompt: p, Answer: "c", Label: false}, {Prompt: []Message{{Role: "user", Content: "other"}}, Answer: "b"}},
	}
	got := ds.Unpaired()
	if len(got.Pairs) != 1 || len(got.Points) != 2 || got.Points[0].Answer != "c" || got.Points[1].Answer != "b" {
		t.Fatalf("Unpaired kept %+v", got.Points)
	}
}
