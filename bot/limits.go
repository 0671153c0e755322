package bot

import (
	"context"
	"errors"
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

// ErrVoteRefused is matched (errors.Is) by the errors a FeedbackStore
// returns for a vote or choice refused because of the voter (too many a
// minute, a value out of range) rather than because the store failed.
// Neither it nor ErrNotFound counts as a vote failure.
var ErrVoteRefused = errors.New("vote refused")

// VoteFailures is how many votes and A/B choices could not be recorded in
// the feedback store since the core started (votes refused because of the
// voter, such as an unknown answer or too many a minute, not included).
func (c *Core) VoteFailures() int64 { return c.voteHealth.total.Load() }

// voteRecorded notes that a vote or choice was stored.
func (c *Core) voteRecorded() { c.voteHealth.ok() }

// voteFailed logs a vote or choice the store did not record. A store
// failure is logged at error level and counted (VoteFailures); once votes
// have failed StoreFailuresBeforeNotice times in a row, and tell is true,
// the voter is told through r that the vote was not recorded. It reports
// whether err was a store failure. what is "vote" or "choice"; text is the
// voter's message (for its language; "" for a reaction).
func (c *Core) voteFailed(ctx context.Context, r Replier, tell bool, what, text string, id AnswerID, err error) bool {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrVoteRefused) || ctx.Err() != nil {
		c.log.Info("recording "+what+": refused", "answer", id, "err", err)
		return false
	}
	c.voteHealth.failed()
	c.log.Error("recording "+what, "answer", id, "failures", c.voteHealth.total.Load(), "err", err)
	if tell && r != nil && c.voteHealth.streak.Load() >= StoreFailuresBeforeNotice {
		c.send(ctx, r, phrase(text, "Your vote was not recorded: feedback is not being recorded right now. The operator has been told in the log.",
			"你的评价没有被记录：反馈目前无法保存。已在日志中告知管理员。"))
	}
	return true
}
