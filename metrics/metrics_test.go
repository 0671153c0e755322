package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// scrape fetches /metrics over HTTP and parses it with Prometheus's own
// text parser.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	ts := httptest.NewServer(m.HTTPHandler())
	defer ts.Close()
	req, _ := http.NewRequest(http.MethodGet, ts.URL, nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value finds the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no %s sample with labels %v", name, want)
	return 0
}

// stepGenerator writes fixed tokens, advancing a fake clock by step before
// each, so the timings are known.
type stepGenerator struct {
	clock       *time.Time
	first, step time.Duration
	tokens      []string
	err         error
}

func (g *stepGenerator) Generate(ctx context.Context, req bot.Request, onToken func(string)) (bot.Result, error) {
	if g.err != nil {
		return bot.Result{}, g.err
	}
	for i, tok := range g.tokens {
		if i == 0 {
			*g.clock = g.clock.Add(g.first)
		} else {
			*g.clock = g.clock.Add(g.step)
		}
		onToken(tok)
	}
	return bot.Result{Text: "x", AnswerTokens: len(g.tokens)}, nil
}

type countingHandler struct{ n int }

func (h *countingHandler) HandleMessage(context.Context, bot.Message, bot.Replier)   { h.n++ }
func (h *countingHandler) HandleReaction(context.Context, bot.Reaction, bot.Replier) {}
func (h *countingHandler) Withdraw(string, bot.ChatID, bot.MessageID)                {}

func TestMetricsScrape(t *testing.T) {
	m := New()
	ctx := context.Background()

	// Messages: two from people, one from a bot (not counted).
	inner := &countingHandler{}
	h := m.Handler(inner)
	h.HandleMessage(ctx, bot.Message{Platform: "discord", Text: "hi"}, nil)
	h.HandleMessage(ctx, bot.Message{Platform: "discord", Text: "hi", FromBot: true}, nil)
	h.HandleMessage(ctx, bot.Message{Platform: "wechat", Text: "你好"}, nil)
	if inner.n != 3 {
		t.Errorf("wrapped handler got %d messages, want 3", inner.n)
	}

	// Generation: first token after 200 ms, then 4 more at 50 ms each:
	// 4 tokens in 0.2 s = 20 tokens/s.
	clock := t0
	gen := generator{g: &stepGenerator{clock: &clock, first: 200 * time.Millisecond, step: 50 * time.Millisecond, tokens: []string{"a", "b", "c", "d", "e"}}, m: m, now: func() time.Time { return clock }}
	if _, err := gen.Generate(ctx, bot.Request{}, func(string) {}); err != nil {
		t.Fatal(err)
	}
	failing := generator{g: &stepGenerator{clock: &clock, err: errors.New("out of memory")}, m: m, now: time.Now}
	if _, err := failing.Generate(ctx, bot.Request{}, func(string) {}); err == nil {
		t.Fatal("failing generator: no error")
	}

	// Store: a real bbolt store under the wrapper.
	fs, err := feedback.Open(filepath.Join(t.TempDir(), "f.db"), feedback.Options{MaxVotesPerMinute: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	s := m.Store(fs)
	for _, a := range []bot.Answer{{ID: "01A", Platform: "discord"}, {ID: "01B", Platform: "discord"}} {
		if err := s.RecordAnswer(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordAnswer(ctx, bot.Answer{ID: "01A", Platform: "discord"}); err == nil {
		t.Fatal("recording an answer twice: no error")
	}
	if err := s.FinishAnswer(ctx, bot.Answer{ID: "01A", Platform: "discord", Sent: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishAnswer(ctx, bot.Answer{ID: "01B", Platform: "discord", Sent: false}); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Vote(ctx, "01A", "discord", "v1", 1))
	must(s.Vote(ctx, "01A", "discord", "v2", -1))
	must(s.Vote(ctx, "01A", "discord", "v2", 0))
	must(s.Choose(ctx, "01A", "01B", "discord", "v1"))
	if err := s.Vote(ctx, "nope", "discord", "v2", 1); err == nil {
		t.Fatal("vote on an unknown answer: no error")
	}
	// v1 has voted once and chosen once this minute: with a cap of 3 a
	// third vote counts and a fourth is refused.
	must(s.Vote(ctx, "01B", "discord", "v1", 1))
	if err := s.Vote(ctx, "01B", "discord", "v1", -1); err == nil {
		t.Fatal("fourth vote in a minute: no error")
	}

	m.Refused("wechat", "medical")
	m.Refused("discord", "busy")
	m.AdapterUp("discord", true)
	m.AdapterUp("wechat", false)
	m.Error(KindAdapter)
	m.QueueDepth(func() int { return 7 })

	fams := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"chatloop_messages_received_total", map[string]string{"platform": "discord"}, 1},
		{"chatloop_messages_received_total", map[string]string{"platform": "wechat"}, 1},
		{"chatloop_answers_sent_total", map[string]string{"platform": "discord"}, 1},
		{"chatloop_refusals_total", map[string]string{"platform": "wechat", "reason": "medical"}, 1},
		{"chatloop_refusals_total", map[string]string{"platform": "discord", "reason": "busy"}, 1},
		{"chatloop_queue_depth", nil, 7},
		{"chatloop_votes_total", map[string]string{"platform": "discord", "value": "up"}, 2},
		{"chatloop_votes_total", map[string]string{"platform": "discord", "value": "rate_limited"}, 1},
		{"chatloop_votes_total", map[string]string{"platform": "discord", "value": "down"}, 1},
		{"chatloop_votes_total", map[string]string{"platform": "discord", "value": "removed"}, 1},
		{"chatloop_votes_total", map[string]string{"platform": "discord", "value": "choice"}, 1},
		{"chatloop_adapter_up", map[string]string{"adapter": "discord"}, 1},
		{"chatloop_adapter_up", map[string]string{"adapter": "wechat"}, 0},
		{"chatloop_errors_total", map[string]string{"kind": KindGenerate}, 1},
		{"chatloop_errors_total", map[string]string{"kind": KindStore}, 1},
		{"chatloop_errors_total", map[string]string{"kind": KindAdapter}, 1},
		{"chatloop_time_to_first_token_seconds", nil, 1},
		{"chatloop_generation_tokens_per_second", nil, 1},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The histograms hold the known timings: TTFT 0.2 s lands in the
	// 0.25 bucket and not the 0.1 one; 20 tokens/s in the 20 bucket, not 10.
	bucket := func(name string, le float64) uint64 {
		for _, b := range fams[name].Metric[0].Histogram.Bucket {
			if b.GetUpperBound() == le {
				return b.GetCumulativeCount()
			}
		}
		t.Fatalf("%s has no bucket %v", name, le)
		return 0
	}
	if bucket("chatloop_time_to_first_token_seconds", 0.1) != 0 || bucket("chatloop_time_to_first_token_seconds", 0.25) != 1 {
		t.Error("time to first token is not 0.2 s")
	}
	if sum := fams["chatloop_time_to_first_token_seconds"].Metric[0].Histogram.GetSampleSum(); sum < 0.199 || sum > 0.201 {
		t.Errorf("time to first token sum %v, want 0.2", sum)
	}
	if sum := fams["chatloop_generation_tokens_per_second"].Metric[0].Histogram.GetSampleSum(); sum < 19.99 || sum > 20.01 {
		t.Errorf("tokens per second %v, want 20", sum)
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
