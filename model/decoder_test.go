package model

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/chatloop/chatloop/model/lora"
)

// greedyDecode appends prompt to d and then the most likely token, n
// times or until the end of the turn, and returns the tokens chosen.
func greedyDecode(t *testing.T, e *Engine, d *Decoder, prompt []int32, n int) []int32 {
	t.Helper()
	logits, err := d.Append(context.Background(), prompt)
	if err != nil {
		t.Fatal(err)
	}
	var out []int32
	for range n {
		next := int32(0)
		for i, v := range logits {
			if v > logits[next] {
				next = int32(i)
			}
		}
		if e.Tokenizer().IsEOG(next) {
			break
		}
		out = append(out, next)
		if logits, err = d.Append(context.Background(), []int32{next}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestDecoderIsTheEnginesPath checks a decoder against the engine's own
// ways of running the model: its logits after a prompt are Logits' bit
// for bit, and its greedy answer token by token is Generate's greedy
// answer; with an adapter held in memory, both are those of an engine
// that loaded the same adapter from a file.
func TestDecoderIsTheEnginesPath(t *testing.T) {
	base := sharedModel(t)
	ad := testAdapter(5, 4, 8, allTargets...)
	path := writeAdapter(t, "mem.gguf", ad)
	plain := loadPath(t, base, Options{Threads: 2, Context: 256})
	withFile := loadPath(t, base, Options{Threads: 2, Context: 256, Adapters: []Adapter{{Path: path, Scale: 0.5}}})
	msgs := []Message{{Role: "user", Content: "Tell me something about the sea and the ships on it."}}
	prompt := plain.PromptTokens(Request{Messages: msgs})
	const n = 12
	var answers []string
	for _, c := range []struct {
		name string
		ref  *Engine
		ad   *lora.Adapter
	}{{"base", plain, nil}, {"adapter", withFile, ad}} {
		t.Run(c.name, func(t *testing.T) {
			d, err := plain.NewDecoder(c.ad, 0.5, 0)
			if err != nil {
				t.Fatal(err)
			}
			want, err := c.ref.Logits(prompt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.Append(context.Background(), prompt)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("logits after the prompt differ from the engine's Logits (max relative difference %g)", maxRelDiff(got, want))
			}
			d.Truncate(0)
			toks := greedyDecode(t, plain, d, prompt, n)
			res, err := c.ref.Generate(context.Background(), Request{Messages: msgs, MaxTokens: n}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if text := plain.Tokenizer().Decode(toks); text != res.Text || len(toks) != res.AnswerTokens {
				t.Fatalf("the decoder's greedy answer is %q (%d tokens), Generate's %q (%d tokens)", text, len(toks), res.Text, res.AnswerTokens)
			}
			if d.Len() != len(prompt)+len(toks) {
				t.Errorf("the decoder holds %d positions, want %d", d.Len(), len(prompt)+len(toks))
			}
			// Another continuation of the prompt, held once: its last
			// token runs again to give the logits.
			d.Truncate(len(prompt) - 1)
			again := greedyDecode(t, plain, d, prompt[len(prompt)-1:], n)
			if !slices.Equal(again, toks) {
				t.Errorf("after Truncate the greedy answer is %v, first %v", again, toks)
			}
			answers = append(answers, res.Text)
		})
	}
	if len(answers) == 2 && answers[0] == answers[1] {
		t.Errorf("the adapter does not change the greedy answer (%q): the test cannot tell the paths apart", answers[0])
	}
}

func TestDecoderRefuses(t *testing.T) {
	e := loadPath(t, sharedModel(t), Options{Threads: 1, Context: 64})
	ctx := context.Background()
	other := testAdapter(5, 2, 4, "attn_q")
	other.Arch = "llama"
	short := testAdapter(5, 2, 4, "attn_q")
	short.Pairs[0].B = short.Pairs[0].B[:3]
	for name, c := range map[string]struct {
		ad    *lora.Adapter
		scale float32
	}{
		"another architecture": {other, 1},
		"a short B":            {short, 1},
		"no pairs":             {&lora.Adapter{Arch: "qwen2"}, 1},
		"a NaN scale":          {testAdapter(5, 2, 4, "attn_q"), float32(math.NaN())},
	} {
		if _, err := e.NewDecoder(c.ad, c.scale, 0); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	d, err := e.NewDecoder(nil, 0, 16)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Append(ctx, []int32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Append(ctx, make([]int32, 14)); !errors.Is(err, ErrContextFull) || d.Len() != 3 {
		t.Errorf("past the decoder's 16 positions: %v, holding %d; want ErrContextFull, holding 3", err, d.Len())
	}
	if _, err := d.Append(ctx, []int32{-1}); err == nil || d.Len() != 3 {
		t.Errorf("a negative token: %v, holding %d", err, d.Len())
	}
	if _, err := d.Append(ctx, nil); err == nil {
		t.Error("no tokens accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.Append(cancelled, []int32{4}); !errors.Is(err, context.Canceled) || d.Len() != 3 {
		t.Errorf("a cancelled context: %v, holding %d", err, d.Len())
	}
	e.Close()
	if _, err := d.Append(ctx, []int32{4}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
	if _, err := e.NewDecoder(nil, 0, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("NewDecoder after Close: %v, want ErrClosed", err)
	}
}
