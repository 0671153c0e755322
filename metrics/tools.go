package metrics

import (
	"context"
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatloop/chatloop/bot"
)

// toolMetrics count the tools the model calls ([tools]).
type toolMetrics struct {
	calls   *prometheus.CounterVec
	seconds *prometheus.HistogramVec
}

func newToolMetrics() toolMetrics {
	return toolMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatloop_tool_calls_total",
			Help: `Tool calls run for the model, by tool and result ("ok", "error").`,
		}, []string{"tool", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatloop_tool_call_seconds",
			Help:    "How long a tool call took, by tool.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60},
		}, []string{"tool"}),
	}
}

// Tools wraps the tools the core offers, counting and timing each call.
// The core calls only tools it offered, so the tool label stays within
// the tools on offer.
func (m *Metrics) Tools(b bot.ToolBox) bot.ToolBox { return toolBox{b, m, time.Now} }

type toolBox struct {
	b   bot.ToolBox
	m   *Metrics
	now func() time.Time
}

func (t toolBox) Tools() []bot.ToolSpec { return t.b.Tools() }

func (t toolBox) Call(ctx context.Context, name string, args json.RawMessage) (bot.ToolResult, error) {
	start := t.now()
	res, err := t.b.Call(ctx, name, args)
	t.m.tools.seconds.WithLabelValues(name).Observe(t.now().Sub(start).Seconds())
	result := "ok"
	if err != nil {
		result = "error"
	}
	t.m.tools.calls.WithLabelValues(name, result).Inc()
	return res, err
}
