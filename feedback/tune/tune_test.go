package tune

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/testmodel"
	"github.com/chatloop/chatloop/model/train"
)

// tiny loads a tiny random qwen2 model for rendering (the engine) and
// training.
func tiny(t testing.TB) (*model.Engine, *train.Model) {
	t.Helper()
	return load(t, testmodel.Write(t, testmodel.Tiny("qwen2", ggml.Q8_0, 11)))
}

// temper scales the output norm of the model file at path by s, which
// scales every logit by s. A random model's logits spread over some 50
// nats, far more than a trained model's over plausible tokens, so that
// sampling from it is nearly greedy whatever an adapter does; tempered,
// its distribution is one an adapter can move. Adapters do not touch the
// output norm.
func temper(t testing.TB, path string, s float32) {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ti, ok := f.Tensor("output_norm.weight")
	off := int64(f.DataOffset() + ti.Offset)
	data, err := f.TensorData("output_norm.weight")
	if !ok || err != nil || ti.Type != ggml.F32 {
		t.Fatalf("output_norm.weight: %v %v %v", ok, err, ti.Type)
	}
	b := append([]byte(nil), data...)
	f.Close()
	for i := 0; i < len(b); i += 4 {
		v := math.Float32frombits(binary.LittleEndian.Uint32(b[i:]))
		binary.LittleEndian.PutUint32(b[i:], math.Float32bits(v*s))
	}
	fh, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func load(t testing.TB, path string) (*model.Engine, *train.Model) {
	t.Helper()
	e, err := model.Load(path, model.Options{Threads: 2, Repack: model.RepackOff, Parallel: 1, PrefixCache: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	cfg, w, err := e.Weights()
	if err != nil {
		t.Fatal(err)
	}
	m, err := train.New(cfg, w, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return e, m
}

var topics = []string{"rivers", "bread", "chess", "comets", "violins", "tea", "glaciers", "bees", "trains", "maps",
	"owls", "salt", "kites", "cotton", "volcanoes", "clocks", "lemons", "bridges", "whales", "paper",
	"mushrooms", "deserts", "pianos", "copper", "tigers", "rain", "castles", "honey", "ships", "stars"}

var words = []string{"it", "is", "very", "old", "and", "people", "like", "many", "kinds", "of", "them", "here", "now", "often"}

// synthetic makes n prompts, each with one pair whose chosen answer ends
// with a follow-up question and whose rejected answer is the same
// sentence ending with a full stop: the rule to learn.
func synthetic(n int, seed uint64) []Example {
	r := rand.New(rand.NewPCG(seed, 1))
	var out []Example
	for i := range n {
		topic := topics[i%len(topics)]
		var b strings.Builder
		for k := range 3 + r.IntN(3) {
			if k > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		body := b.String()
		out = append(out, Example{
			Messages: []model.Message{{Role: "user", Content: fmt.Sprintf("Tell me about %s, part %d.", topic, i/len(topics)+1)}},
			Chosen:   body + "?", Rejected: body + ".", Line: i + 1,
		})
	}
	return out
}

func renderAll(t testing.TB, e *model.Engine, exs []Example) []Pair {
	t.Helper()
	var pairs []Pair
	for i := range exs {
		c, r, p, err := Render(e, &exs[i])
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, Pair{Preference: train.Preference{Chosen: c, Rejected: r}, Prompt: p, Line: exs[i].Line})
	}
	return pairs
}

// sample draws an answer after toks from the model with adapter ad at
// temperature 1 among the tokens allowed (the vocabulary of the training
// answers: a random tiny model spreads its probability over all 151936
// tokens, so sampling from all of them would show nothing), up to
// maxTokens or the end of the turn.
func sample(t testing.TB, m *train.Model, e *model.Engine, toks []int, ad *train.Adapter, r *rand.Rand, maxTokens int, allowed []int) string {
	t.Helper()
	toks = append([]int(nil), toks...)
	var out []int32
	w := make([]float64, len(allowed))
	for range maxTokens {
		logits, err := m.Logits(toks, ad)
		if err != nil {
			t.Fatal(err)
		}
		mx := math.Inf(-1)
		for _, id := range allowed {
			mx = max(mx, float64(logits[id]))
		}
		var sum float64
		for i, id := range allowed {
			w[i] = math.Exp(float64(logits[id]) - mx)
			sum += w[i]
		}
		u := r.Float64() * sum
		next := allowed[len(allowed)-1]
		for i, id := range allowed {
			if u -= w[i]; u <= 0 {
				next = id
				break
			}
		}
		if e.Tokenizer().IsEOG(int32(next)) {
			break
		}
		toks = append(toks, next)
		out = append(out, int32(next))
	}
	return e.Tokenizer().Decode(out)
}

// TestLearnsRule trains on synthetic preferences whose chosen answers end
// with a question: held-out DPO accuracy reaches 0.9, answers sampled on
// 30 held-out prompts ask questions more often than the base's, and with
// the labels shuffled the held-out accuracy stays near chance.
func TestLearnsRule(t *testing.T) {
	path := testmodel.Write(t, testmodel.Tiny("qwen2", ggml.Q8_0, 11))
	temper(t, path, 0.1)
	e, m := load(t, path)
	ctx := context.Background()
	exs := synthetic(70, 1)
	pairs := renderAll(t, e, exs)
	trainSet, held := Split(pairs, 3.0/7, 7)
	if len(held) != 30 {
		t.Fatalf("%d held-out pairs, want 30", len(held))
	}
	if err := References(ctx, m, trainSet, nil); err != nil {
		t.Fatal(err)
	}
	if err := References(ctx, m, held, nil); err != nil {
		t.Fatal(err)
	}
	o := Options{Beta: 0.1, Rank: 4, Alpha: 8, Epochs: 3, LR: 5e-3, Batch: 4, Seed: 3, EvalEvery: 1000}
	res, err := Run(ctx, m, trainSet, held, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out before: loss %.4f accuracy %.2f margin %.3f; after: loss %.4f accuracy %.2f margin %.3f",
		res.Before.Loss, res.Before.Accuracy, res.Before.Margin, res.After.Loss, res.After.Accuracy, res.After.Margin)
	if math.Abs(res.Before.Loss-math.Ln2) > 1e-6 {
		t.Errorf("held-out loss before training %v, want log 2 (the adapter starts as the base)", res.Before.Loss)
	}
	if res.After.Accuracy < 0.9 {
		t.Errorf("held-out accuracy %.2f after tuning, want ≥ 0.9", res.After.Accuracy)
	}

	// Sampled answers on the 30 held-out prompts, among the tokens of the
	// training answers: whole answers (up to 8 tokens), and the ending
	// the model writes after the held-out answer's words (up to 2 tokens,
	// where the rule applies).
	vocab := map[int]bool{}
	for _, p := range trainSet {
		for _, s := range []train.Seq{p.Chosen, p.Rejected} {
			for _, id := range s.Tokens[s.Start:] {
				vocab[id] = true
			}
		}
	}
	var allowed []int
	for id := range vocab {
		allowed = append(allowed, id)
	}
	slices.Sort(allowed)
	r0, r1 := rand.New(rand.NewPCG(5, 5)), rand.New(rand.NewPCG(5, 5))
	before, after := 0, 0
	freeBefore, freeAfter := 0, 0
	for _, p := range held {
		c := p.Chosen
		body := c.Tokens[:len(c.Tokens)-3] // the words, without "?", <|im_end|> and "\n"
		if end := e.Tokenizer().Decode(int32s(c.Tokens[len(body):])); !strings.HasPrefix(end, "?") {
			t.Fatalf("the chosen answer ends with %q, want a question mark first", end)
		}
		if strings.Contains(sample(t, m, e, body, nil, r0, 2, allowed), "?") {
			before++
		}
		if strings.Contains(sample(t, m, e, body, res.Adapter, r1, 2, allowed), "?") {
			after++
		}
		if strings.Contains(sample(t, m, e, ints(p.Prompt), nil, r0, 8, allowed), "?") {
			freeBefore++
		}
		if strings.Contains(sample(t, m, e, ints(p.Prompt), res.Adapter, r1, 8, allowed), "?") {
			freeAfter++
		}
	}
	t.Logf("whole sampled answers with a question: %d of 30 before, %d after", freeBefore, freeAfter)
	t.Logf("sampled answers with a question: %d of 30 before, %d after", before, after)
	if after <= before {
		t.Errorf("%d of 30 sampled answers ask a question after tuning, %d before", after, before)
	}

	// the same with the labels shuffled
	r := rand.New(rand.NewPCG(9, 9))
	shuffled := func(ps []Pair) []Pair {
		out := append([]Pair(nil), ps...)
		for i := range out {
			if r.IntN(2) == 0 {
				p := &out[i].Preference
				p.Chosen, p.Rejected, p.RefChosen, p.RefRejected = p.Rejected, p.Chosen, p.RefRejected, p.RefChosen
			}
		}
		return out
	}
	res2, err := Run(ctx, m, shuffled(trainSet), shuffled(held), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("shuffled labels: held-out accuracy %.2f", res2.After.Accuracy)
	if res2.After.Accuracy < 0.2 || res2.After.Accuracy > 0.8 {
		t.Errorf("held-out accuracy %.2f with shuffled labels, want near 0.5", res2.After.Accuracy)
	}
}
