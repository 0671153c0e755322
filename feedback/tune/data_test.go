package tune

import (
	"errors"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/model"
)

func TestReadJSONL(t *testing.T) {
	in := `{"prompt":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}],"chosen":[{"role":"assistant","content":"Hello!"}],"rejected":[{"role":"assistant","content":"Go away."}]}

{"prompt":"Q: 2+2?\nA:","chosen":" 4","rejected":" 5"}
`
	exs, err := ReadJSONL(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != 2 {
		t.Fatalf("%d examples, want 2", len(exs))
	}
	c := exs[0]
	if len(c.Messages) != 2 || !c.Messages[1].Equal(model.Message{Role: "user", Content: "hi"}) || c.Chosen != "Hello!" || c.Rejected != "Go away." || c.Line != 1 {
		t.Errorf("conversational row = %+v", c)
	}
	p := exs[1]
	if p.Messages != nil || p.Prompt != "Q: 2+2?\nA:" || p.Chosen != " 4" || p.Rejected != " 5" || p.Line != 3 {
		t.Errorf("plain row = %+v", p)
	}
}

func TestReadJSONLErrors(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"not json", "{", "line 1"},
		{"missing rejected", `{"prompt":"a","chosen":"b"}`, `want "prompt", "chosen" and "rejected"`},
		{"mixed forms", `{"prompt":"a","chosen":[{"role":"assistant","content":"b"}],"rejected":"c"}`, "plain-text"},
		{"empty prompt list", `{"prompt":[],"chosen":[{"role":"assistant","content":"b"}],"rejected":[{"role":"assistant","content":"c"}]}`, "no messages"},
		{"user as answer", `{"prompt":[{"role":"user","content":"a"}],"chosen":[{"role":"user","content":"b"}],"rejected":[{"role":"assistant","content":"c"}]}`, "one assistant message"},
		{"no role", `{"prompt":[{"content":"a"}],"chosen":[{"role":"assistant","content":"b"}],"rejected":[{"role":"assistant","content":"c"}]}`, "without a role"},
		{"second line", "{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n[1]\n", "line 2"},
	} {
		_, err := ReadJSONL(strings.NewReader(c.in))
		if !errors.Is(err, ErrData) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want ErrData saying %q", c.name, err, c.want)
		}
	}
}

func FuzzReadJSONL(f *testing.F) {
	f.Add(`{"prompt":[{"role":"user","content":"hi"}],"chosen":[{"role":"assistant","content":"a"}],"rejected":[{"role":"assistant","content":"b"}]}`)
	f.Add(`{"prompt":"p","chosen":"a","rejected":"b"}` + "\n\n")
	f.Add(`{"prompt":null,"chosen":1,"rejected":{}}`)
	// TRL's tool-calling form: a call (arguments as an object), its result, the answer.
	f.Add(`{"prompt":[{"role":"user","content":"q"}],"chosen":[{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"s","arguments":{"q":"x"}}}]},{"role":"tool","name":"s","content":"r"},{"role":"assistant","content":"a"}],"rejected":[{"role":"assistant","content":"b"}],"tools":[{"type":"function","function":{"name":"s"}}]}`)
	f.Add(`{"prompt":[{"role":"user","content":"q"}],"completion":[{"role":"assistant","tool_calls":[{"function":{"name":"s","arguments":"{\"q\":1}"}}]},{"role":"assistant","content":"a"}],"label":false}`)
	f.Fuzz(func(t *testing.T, in string) {
		exs, err := ReadJSONL(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrData) {
				t.Fatalf("error %v does not wrap ErrData", err)
			}
			return
		}
		for _, ex := range exs {
			if ex.Line < 1 || (ex.Messages == nil && ex.Prompt == "") {
				t.Fatalf("example %+v", ex)
			}
		}
	})
}

func TestSplitByPrompt(t *testing.T) {
	var pairs []Pair
	for i := range 40 {
		pairs = append(pairs, Pair{Prompt: []int32{int32(i % 20)}, Line: i + 1}) // two pairs per prompt
	}
	tr, held := Split(pairs, 0.25, 3)
	if len(held) != 10 || len(tr) != 30 {
		t.Fatalf("%d held, %d training pairs; want 10 and 30 (5 of 20 prompts)", len(held), len(tr))
	}
	heldPrompts := map[int32]bool{}
	for _, p := range held {
		heldPrompts[p.Prompt[0]] = true
	}
	for _, p := range tr {
		if heldPrompts[p.Prompt[0]] {
			t.Fatalf("prompt %d is in both sets", p.Prompt[0])
		}
	}
	tr2, held2 := Split(pairs, 0.25, 3)
	if len(tr2) != len(tr) || held2[0].Line != held[0].Line {
		t.Error("the split is not a function of the seed")
	}
	if tr, held := Split([]Pair{pairs[0], pairs[20]}, 0.5, 1); len(tr) != 2 || len(held) != 0 {
		t.Errorf("one prompt: %d training, %d held out; want all for training", len(tr), len(held))
	}
	if _, held := Split(pairs, 0, 1); len(held) != 0 {
		t.Errorf("holdout 0 held out %d", len(held))
	}
}
