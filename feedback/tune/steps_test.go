package tune

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/model/train"
)

// toolRow is a preference row as chatloop feedback export writes it for
// two answers with the same final text after different searches.
func toolRow(topic string) string {
	step := func(id, query, result string) string {
		return fmt.Sprintf(`{"role":"assistant","content":"","tool_calls":[{"id":%q,"type":"function","function":{"name":"web_search","arguments":{"query":%q}}}]},{"role":"tool","content":%q,"tool_call_id":%q,"name":"web_search"}`, id, query, result, id)
	}
	final := `{"role":"assistant","content":"Here is what changed."}`
	return fmt.Sprintf(`{"prompt":[{"role":"system","content":"Be brief."},{"role":"user","content":"What changed in %s?"}],"chosen":[%s,%s],"rejected":[%s,%s],"tools":[{"type":"function","function":{"name":"web_search","description":"Search the web.","parameters":{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}}}]}`,
		topic, step("call_1", topic+" release notes", "Official changelog of "+topic), final, step("call_2", "stuff", "Nothing relevant"), final)
}

// TestRenderToolSteps: an answer's tool rounds render through the
// template's tool-calling form between the prompt (which offers the
// tools) and the final text; the tokens the model wrote (the call and
// the final text) count, the tool result is masked.
func TestRenderToolSteps(t *testing.T) {
	e, _ := tiny(t)
	exs, err := ReadJSONL(strings.NewReader(toolRow("Go 1.24")))
	if err != nil {
		t.Fatal(err)
	}
	ex := &exs[0]
	if len(ex.ChosenSteps) != 2 || ex.ChosenSteps[0].ToolCalls[0].Function.Arguments != `{"query":"Go 1.24 release notes"}` || len(ex.Tools) != 1 || ex.Same() {
		t.Fatalf("example %+v", ex)
	}
	c, r, prompt, err := Render(e, ex)
	if err != nil {
		t.Fatal(err)
	}
	tok := e.Tokenizer()
	decode := func(s train.Seq, counted bool) string {
		var ids []int32
		for i := s.Start; i < len(s.Tokens); i++ {
			if s.Counts(i) == counted {
				ids = append(ids, int32(s.Tokens[i]))
			}
		}
		return tok.Decode(ids)
	}
	pt := make([]int32, len(prompt))
	copy(pt, prompt)
	if p := tok.Decode(pt); !strings.Contains(p, "web_search") || !strings.Contains(p, "Search the web.") || !strings.HasSuffix(p, "assistant\n") {
		t.Errorf("the prompt does not offer the tools:\n%s", p)
	}
	if c.Start != len(prompt) || r.Start != len(prompt) || c.Mask == nil || r.Mask == nil {
		t.Fatalf("chosen starts at %d, rejected at %d, prompt %d tokens; masks %v %v", c.Start, r.Start, len(prompt), c.Mask != nil, r.Mask != nil)
	}
	wrote, read := decode(c, true), decode(c, false)
	t.Logf("counted: %q\nmasked: %q", wrote, read)
	if !strings.Contains(wrote, "web_search") || !strings.Contains(wrote, "Go 1.24 release notes") || !strings.Contains(wrote, "Here is what changed.") {
		t.Errorf("the counted tokens miss the call or the answer: %q", wrote)
	}
	if strings.Contains(wrote, "Official changelog") || !strings.Contains(read, "Official changelog of Go 1.24") {
		t.Errorf("the tool result is not masked: counted %q, masked %q", wrote, read)
	}
	if strings.Contains(read, "Here is what changed.") || strings.Contains(read, "release notes") {
		t.Errorf("the model's own tokens are masked: %q", read)
	}
	if decode(r, true) == wrote {
		t.Error("the rejected answer's counted tokens are the chosen's")
	}
	// The whole sequence is the conversation as the template renders it.
	all := make([]int32, len(c.Tokens))
	for i, x := range c.Tokens {
		all[i] = int32(x)
	}
	if got := tok.Decode(all); !strings.Contains(got, "Official changelog of Go 1.24") || !strings.HasSuffix(strings.TrimSpace(got), "Here is what changed.<|im_end|>") {
		t.Errorf("conversation:\n%s", got)
	}
}

// TestToolStepsReachTheLoss: pairs whose answers differ only in their
// tool steps train: the trained adapter prefers the good searches on
// every pair; with the steps dropped both sides are one sequence, so the
// loss has no gradient at all.
func TestToolStepsReachTheLoss(t *testing.T) {
	e, m := tiny(t)
	var rows []string
	for _, topic := range []string{"rivers", "bread", "chess"} {
		rows = append(rows, toolRow(topic))
	}
	exs, err := ReadJSONL(strings.NewReader(strings.Join(rows, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	pairs := renderAll(t, e, exs)
	ctx := context.Background()
	if err := References(ctx, m, pairs, nil); err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Rank, o.Epochs, o.Batch, o.LR, o.Holdout, o.Beta = 4, 3, 3, 5e-3, 0, 0.5
	res, err := Run(ctx, m, pairs, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	after, err := Evaluate(ctx, m, pairs, res.Adapter, o)
	if err != nil {
		t.Fatal(err)
	}
	if after.Accuracy != 1 || !(after.Margin > 0) {
		t.Errorf("after training on the steps: accuracy %.2f, margin %.4f; want 1 and > 0", after.Accuracy, after.Margin)
	}

	t.Logf("after training: accuracy %.2f, margin %.4f", after.Accuracy, after.Margin)

	// The gradient at a fresh adapter (the trained one's margin saturates
	// the loss).
	fresh, err := train.NewAdapter(&m.Config, train.AllTargets, 4, 8, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	gradNorm := func(ex *Example) float64 {
		c, r, _, err := Render(e, ex)
		if err != nil {
			t.Fatal(err)
		}
		p := train.Preference{Chosen: c, Rejected: r}
		if err := m.Reference(&p); err != nil {
			t.Fatal(err)
		}
		grad := fresh.Zero()
		if _, err := m.Step(&p, fresh, grad, o.Loss, o.Beta, 1); err != nil {
			t.Fatal(err)
		}
		var norm float64
		for _, g := range grad.Params() {
			for _, v := range g {
				norm += float64(v) * float64(v)
			}
		}
		return norm
	}
	dropped := exs[0]
	dropped.ChosenSteps, dropped.RejectedSteps = nil, nil
	if !dropped.Same() {
		t.Fatal("without steps the answers differ")
	}
	with, without := gradNorm(&exs[0]), gradNorm(&dropped)
	t.Logf("squared gradient norm: %g with the steps, %g without", with, without)
	if !(with > 0) || without > 1e-6*with {
		t.Errorf("squared gradient norm %g with the steps, %g without; want > 0 and (rounding aside) 0", with, without)
	}
}
