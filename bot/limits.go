package bot

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
)

// Upper bounds of the [bot] keys that size memory: beyond them a typo
// (queue_size = 1e18) would panic in makechan or reserve gigabytes.
const (
	// MaxWorkers bounds workers (answers generated at once).
	MaxWorkers = 256
	// MaxQueueSize bounds queue_size (messages waiting for a worker).
	MaxQueueSize = 1 << 16
)

// MaxNotices bounds the short notices ("busy", "too fast") being sent at
// once. Each holds a platform connection for up to 30 s; with the platform
// hanging, a flood of messages would otherwise hold one goroutine and one
// connection per message. A notice beyond the bound is dropped and logged:
// it tells someone who is flooding that they are flooding.
const MaxNotices = 32

// NoticeQueue bounds the notices waiting for one of the MaxNotices
// senders.
const NoticeQueue = 256

// StoreFailuresBeforeNotice is how many answers in a row must fail to be
// recorded before the bot says, under each further unrecorded answer, that
// feedback is not being recorded.
const StoreFailuresBeforeNotice = 3

// Validate reports the first sampling value that is NaN, infinite or out
// of range, naming its key. Zero values mean "off" (greedy, keep all).
func (s Sampling) Validate() error {
	check := func(key string, v, lo, hi float64) error {
		if math.IsNaN(v) || v < lo || v > hi {
			return fmt.Errorf("key %s: %v is not between %v and %v", key, v, lo, hi)
		}
		return nil
	}
	if err := check("temperature", s.Temperature, 0, 100); err != nil {
		return err
	}
	if err := check("top_p", s.TopP, 0, 1); err != nil {
		return err
	}
	if err := check("min_p", s.MinP, 0, 1); err != nil {
		return err
	}
	if err := check("repeat_penalty", s.RepeatPenalty, 0, 100); err != nil {
		return err
	}
	if s.TopK < 0 {
		return fmt.Errorf("key top_k: %d is negative", s.TopK)
	}
	return nil
}

// storeHealth counts recording failures: in all (for metrics) and in a
// row (to stop pretending).
type storeHealth struct {
	total  atomic.Int64
	streak atomic.Int64
}

func (h *storeHealth) failed() {
	h.total.Add(1)
	h.streak.Add(1)
}

func (h *storeHealth) ok() { h.streak.Store(0) }

// RecordFailures is how many answers could not be recorded in the
// feedback store since the core started.
func (c *Core) RecordFailures() int64 { return c.health.total.Load() }

// tellNotRecording says under an unrecorded answer that feedback is not
// being recorded, once recording has failed StoreFailuresBeforeNotice
// times in a row: the vote controls are gone, and the chat should know why.
func (c *Core) tellNotRecording(ctx context.Context, r Replier, m Message) {
	if c.opts.Store == nil || c.health.streak.Load() < StoreFailuresBeforeNotice {
		return
	}
	c.send(ctx, r, notRecordingNotice(m.Text))
}

// notRecordingNotice is said under an answer the store could not record,
// once recording has failed StoreFailuresBeforeNotice times in a row.
func notRecordingNotice(text string) string {
	return phrase(text, "(Feedback is not being recorded right now: votes on this answer will not be kept. The operator has been told in the log.)",
		"（反馈目前没有被记录：对这个回答的评价不会保存。已在日志中告知管理员。）")
}
