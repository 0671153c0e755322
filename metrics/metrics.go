// Package metrics counts what the bot does for Prometheus
// (github.com/prometheus/client_golang): messages received, answers sent,
// refusals, queue depth, generation speed and time to first token, votes,
// adapters up or down, errors by kind, and tool calls.
//
// It watches from the outside: Handler, Generator and Store wrap the
// interfaces the core consumes and hands to adapters, so neither the core
// nor an adapter imports Prometheus.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// Error kinds of chatloop_errors_total.
const (
	KindGenerate = "generate" // the model failed
	KindStore    = "store"    // the feedback store failed
	KindAdapter  = "adapter"  // an adapter stopped with an error
)

// Metrics is one registry of chatloop's metrics. The zero value is not
// usable; call New.
type Metrics struct {
	reg      *prometheus.Registry
	received *prometheus.CounterVec
	answers  *prometheus.CounterVec
	refusals *prometheus.CounterVec
	votes    *prometheus.CounterVec
	voteFail *prometheus.CounterVec
	adapter  *prometheus.GaugeVec
	errors   *prometheus.CounterVec
	speed    prometheus.Histogram
	ttft     prometheus.Histogram
	queue    atomic.Pointer[func() int]
	tools    toolMetrics
}

// New makes the metrics and registers them, with Go's runtime and process
// collectors, in a registry of their own.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.received = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatloop_messages_received_total",
		Help: "Messages adapters handed to the core, by platform.",
	}, []string{"platform"})
	m.answers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatloop_answers_sent_total",
		Help: "Answers finished and shown, by platform.",
	}, []string{"platform"})
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatloop_refusals_total",
		Help: `Messages refused, by platform and reason (a refusal rule's category, or "busy" when the queue was full).`,
	}, []string{"platform", "reason"})
	m.votes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatloop_votes_total",
		Help: `Votes recorded, by platform and value ("up", "down", "removed", "choice" for an A/B choice), and votes refused as "rate_limited".`,
	}, []string{"platform", "value"})
	m.voteFail = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatloop_vote_failures_total",
		Help: "Votes and A/B choices the feedback store failed to record, by platform (votes refused because of the voter are not counted).",
	}, []string{"platform"})
	m.adapter = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "chatloop_adapter_up",
		Help: "1 while an adapter runs, 0 after it stopped.",
	}, []string{"adapter"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatloop_errors_total",
		Help: "Errors by kind (generate, store, adapter).",
	}, []string{"kind"})
	m.speed = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "chatloop_generation_tokens_per_second",
		Help:    "Answer tokens per second after the first token, per answer.",
		Buckets: []float64{1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 250},
	})
	m.ttft = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "chatloop_time_to_first_token_seconds",
		Help:    "Time from asking the model to its first token, per answer.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60},
	})
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chatloop_queue_depth",
		Help: "Messages waiting for a worker.",
	}, func() float64 {
		if f := m.queue.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	m.tools = newToolMetrics()
	m.reg.MustRegister(m.tools.calls, m.tools.seconds)
	m.reg.MustRegister(m.received, m.answers, m.refusals, m.votes, m.voteFail, m.adapter, m.errors, m.speed, m.ttft, queue,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Error kinds appear at zero from the start, so rate() works at once.
	for _, k := range []string{KindGenerate, KindStore, KindAdapter} {
		m.errors.WithLabelValues(k)
	}
	return m
}

// HTTPHandler serves the metrics in Prometheus's exposition format.
func (m *Metrics) HTTPHandler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is where the metrics are registered, for adding more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// QueueDepth sets the function chatloop_queue_depth reads (the core's
// Queued).
func (m *Metrics) QueueDepth(f func() int) { m.queue.Store(&f) }

// AdapterUp sets an adapter's chatloop_adapter_up.
func (m *Metrics) AdapterUp(name string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.adapter.WithLabelValues(name).Set(v)
}

// Error counts one error of kind.
func (m *Metrics) Error(kind string) { m.errors.WithLabelValues(kind).Inc() }

// Refused counts a refusal; Metrics is a bot.Observer.
func (m *Metrics) Refused(platform, reason string) {
	if reason == "" {
		reason = "rule"
	}
	m.refusals.WithLabelValues(label(platform), reason).Inc()
}

var _ bot.Observer = (*Metrics)(nil)

func label(platform string) string {
	if platform == "" {
		return "unknown"
	}
	return platform
}

// Handler wraps the core as adapters see it, counting incoming messages.
func (m *Metrics) Handler(h bot.Handler) bot.Handler { return handler{h, m} }

type handler struct {
	bot.Handler
	m *Metrics
}

func (h handler) HandleMessage(ctx context.Context, msg bot.Message, r bot.Replier) {
	if !msg.FromBot {
		h.m.received.WithLabelValues(label(msg.Platform)).Inc()
	}
	h.Handler.HandleMessage(ctx, msg, r)
}

// Generator wraps the model, timing the first token and the tokens per
// second of every answer, and counting its errors.
func (m *Metrics) Generator(g bot.Generator) bot.Generator { return generator{g, m, time.Now} }

type generator struct {
	g   bot.Generator
	m   *Metrics
	now func() time.Time
}

func (g generator) Generate(ctx context.Context, req bot.Request, onToken func(string)) (bot.Result, error) {
	start := g.now()
	var first time.Time
	res, err := g.g.Generate(ctx, req, func(tok string) {
		if first.IsZero() {
			first = g.now()
			g.m.ttft.Observe(first.Sub(start).Seconds())
		}
		onToken(tok)
	})
	if err != nil {
		if ctx.Err() == nil {
			g.m.Error(KindGenerate)
		}
		return res, err
	}
	if !first.IsZero() && res.AnswerTokens > 1 {
		if d := g.now().Sub(first).Seconds(); d > 0 {
			g.m.speed.Observe(float64(res.AnswerTokens-1) / d)
		}
	}
	return res, nil
}

// Store wraps the feedback store, counting votes, answers sent and store
// errors.
func (m *Metrics) Store(s bot.FeedbackStore) bot.FeedbackStore { return store{s, m} }

type store struct {
	bot.FeedbackStore
	m *Metrics
}

func (s store) count(err error) error {
	if err != nil {
		s.m.Error(KindStore)
	}
	return err
}

func (s store) RecordAnswer(ctx context.Context, a bot.Answer) error {
	return s.count(s.FeedbackStore.RecordAnswer(ctx, a))
}

func (s store) FinishAnswer(ctx context.Context, a bot.Answer) error {
	err := s.count(s.FeedbackStore.FinishAnswer(ctx, a))
	if err == nil && a.Sent {
		s.m.answers.WithLabelValues(label(a.Platform)).Inc()
	}
	return err
}

func (s store) Vote(ctx context.Context, id bot.AnswerID, platform string, voter bot.UserID, value int) error {
	err := s.FeedbackStore.Vote(ctx, id, platform, voter, value)
	if errors.Is(err, feedback.ErrRateLimited) {
		s.m.votes.WithLabelValues(label(platform), "rate_limited").Inc()
	}
	if err != nil {
		s.voteFailed(ctx, platform, err)
		return err
	}
	v := "removed"
	switch value {
	case 1:
		v = "up"
	case -1:
		v = "down"
	}
	s.m.votes.WithLabelValues(label(platform), v).Inc()
	return nil
}

func (s store) Choose(ctx context.Context, winner, loser bot.AnswerID, platform string, voter bot.UserID) error {
	err := s.FeedbackStore.Choose(ctx, winner, loser, platform, voter)
	if err == nil {
		s.m.votes.WithLabelValues(label(platform), "choice").Inc()
	} else {
		s.voteFailed(ctx, platform, err)
	}
	return err
}

// voteFailed counts a vote or choice the store failed to record, as a
// vote failure and a store error. An unknown answer, a bad value or a
// flood is the voter's, not the store's, and a cancelled request is
// nobody's: those are not counted.
func (s store) voteFailed(ctx context.Context, platform string, err error) {
	if errors.Is(err, bot.ErrNotFound) || errors.Is(err, bot.ErrVoteRefused) || ctx.Err() != nil {
		return
	}
	s.m.voteFail.WithLabelValues(label(platform)).Inc()
	s.m.Error(KindStore)
}
