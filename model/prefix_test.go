package model

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/model/arch"
)

// conversation is a scripted chat: a system prompt and the user's turns.
type conversation struct {
	system string
	turns  []string
}

var systemPrompt = "You are chatloop, a helpful assistant in a group chat. Answer briefly, in the language of the question, and never make things up."

var scripted = conversation{system: systemPrompt, turns: []string{
	"Hello! Who are you?",
	"What can you do for our group?",
	"请用中文介绍一下你自己。",
	"Summarise what we said so far.",
	"Thanks, bye!",
}}

// messages returns the conversation up to turn k (0-based) with the
// given earlier answers.
func (c conversation) messages(k int, answers []string) []Message {
	ms := []Message{{Role: "system", Content: c.system}}
	for i := 0; i <= k; i++ {
		ms = append(ms, Message{Role: "user", Content: c.turns[i]})
		if i < k {
			ms = append(ms, Message{Role: "assistant", Content: answers[i]})
		}
	}
	return ms
}

// idleTokens returns copies of the token lists of the pool's idle caches.
// The scheduler is idle when it is called (no Generate running): its last
// writes happened before the last Generate returned.
func idleTokens(e *Engine) [][]int {
	var out [][]int
	for _, it := range e.sched.pool.idle {
		out = append(out, append([]int(nil), it.c.Tokens()...))
	}
	return out
}

func commonPrefix(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func TestConversationReusesPreviousTurns(t *testing.T) {
	e := load(t, Options{Threads: 2, Context: 512})
	fresh := load(t, Options{Threads: 2, Context: 512, PrefixCache: -1})
	ctx := context.Background()
	var answers []string
	var prevPrompt []int
	for k := range scripted.turns {
		req := Request{Messages: scripted.messages(k, answers), MaxTokens: 8}
		prompt := toIDs(e.PromptTokens(req))
		// What the cache holds now: the previous turn's prompt and the
		// answer tokens that went through the model.
		before := idleTokens(e)
		res, err := e.Generate(ctx, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			if res.CachedTokens != 0 {
				t.Errorf("turn 1 reused %d tokens from nowhere", res.CachedTokens)
			}
		} else {
			if len(before) != 1 {
				t.Fatalf("turn %d: %d idle caches before it, want 1", k+1, len(before))
			}
			want := min(commonPrefix(prompt, before[0]), len(prompt)-1)
			if res.CachedTokens != want {
				t.Errorf("turn %d: reused %d tokens, want %d (shared with the previous prompt and answer)", k+1, res.CachedTokens, want)
			}
			// At least all that the new prompt shares with the previous
			// prompt (its end, "<|im_start|>assistant\n", may tokenize
			// differently once the answer follows).
			if shared := commonPrefix(prompt, prevPrompt); res.CachedTokens < shared || shared < len(prevPrompt)-2 {
				t.Errorf("turn %d: reused %d tokens; the prompt shares %d of the previous prompt's %d", k+1, res.CachedTokens, shared, len(prevPrompt))
			}
		}
		// Reuse changes nothing in the answer.
		ref, err := fresh.Generate(ctx, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ref.CachedTokens != 0 {
			t.Errorf("with the prefix cache off, turn %d reused %d tokens", k+1, ref.CachedTokens)
		}
		if res.Text != ref.Text {
			t.Errorf("turn %d: with reuse %q, without %q", k+1, res.Text, ref.Text)
		}
		answers = append(answers, res.Text)
		prevPrompt = prompt
	}
}

func TestInterleavedSessionsReuseTheirOwn(t *testing.T) {
	e := load(t, Options{Threads: 2, Context: 512})
	ctx := context.Background()
	a := scripted
	b := conversation{system: systemPrompt, turns: []string{"Tell me a joke.", "Another one?", "Why is that funny?"}}
	var answersA, answersB []string
	var prevA, prevB []int
	for k := range 3 {
		for _, s := range []struct {
			conv    conversation
			answers *[]string
			prev    *[]int
			name    string
		}{{a, &answersA, &prevA, "A"}, {b, &answersB, &prevB, "B"}} {
			req := Request{Messages: s.conv.messages(k, *s.answers), MaxTokens: 6}
			prompt := toIDs(e.PromptTokens(req))
			res, err := e.Generate(ctx, req, nil)
			if err != nil {
				t.Fatal(err)
			}
			system := toIDs(e.PromptTokens(Request{Messages: []Message{{Role: "system", Content: systemPrompt}}}))
			switch {
			case k == 0 && s.name == "A":
				if res.CachedTokens != 0 {
					t.Errorf("A's first turn reused %d tokens", res.CachedTokens)
				}
			case k == 0:
				// B's first turn shares the system prompt with A's cache,
				// copied out so that A's cache stays whole.
				if shared := commonPrefix(prompt, system); res.CachedTokens < shared-2 || res.CachedTokens >= len(prompt) {
					t.Errorf("B's first turn reused %d tokens, want about the %d of the shared system prompt", res.CachedTokens, shared)
				}
			default:
				if shared := commonPrefix(prompt, *s.prev); res.CachedTokens < shared || shared < len(*s.prev)-2 {
					t.Errorf("%s turn %d reused %d tokens, want at least the %d it shares with its previous prompt (of %d)", s.name, k+1, res.CachedTokens, shared, len(*s.prev))
				}
			}
			*s.answers = append(*s.answers, res.Text)
			*s.prev = prompt
		}
	}
}

// TestEvictionLeastRecentlyUsedFirst runs three conversations through a
// budget of two idle caches and checks which ones are still reusable.
func TestEvictionLeastRecentlyUsedFirst(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	probe := load(t, Options{Threads: 1, Context: 256})
	one := bytesFor(t, probe, 40) // one short conversation's cache
	// Two and a half caches live, the collector's slack on top (see
	// liveBudget).
	e := load(t, Options{Threads: 1, Context: 256, PrefixCache: int64(float64(2*one+one/2) * gcSlack()), Log: log})
	ctx := context.Background()
	last := map[string]string{}
	turn := func(name string) int {
		t.Helper()
		prompt := strings.Repeat(name+" says hello. ", 3) + last[name]
		res, err := e.Generate(ctx, Request{Raw: prompt, MaxTokens: 4}, nil)
		if err != nil {
			t.Fatal(err)
		}
		last[name] += res.Text + " and more"
		return res.CachedTokens
	}
	for _, n := range []string{"alpha", "bravo", "charlie"} {
		turn(n)
	}
	// alpha was the least recently used: gone. Its new cache pushes out
	// bravo, the least recently used then.
	if got := turn("alpha"); got != 0 {
		t.Errorf("alpha after eviction reused %d tokens, want 0", got)
	}
	if got := turn("charlie"); got == 0 {
		t.Error("charlie, among the two most recent, reused nothing")
	}
	if got := turn("bravo"); got != 0 {
		t.Errorf("bravo after eviction reused %d tokens, want 0", got)
	}
	if got := turn("charlie"); got == 0 {
		t.Error("charlie, the most recent, reused nothing")
	}
	if n := strings.Count(logs.String(), "evicted"); n != 3 {
		t.Errorf("%d evictions logged, want 3 (alpha, bravo, alpha again):\n%s", n, logs.String())
	}
	if idle := e.sched.pool.idleBytes(); idle > e.sched.pool.budget {
		t.Errorf("idle caches hold %d bytes, over the budget of %d", idle, e.sched.pool.budget)
	}
}

// bytesFor is the memory a cache of e's model holding n tokens takes.
func bytesFor(t *testing.T, e *Engine, n int) int64 {
	t.Helper()
	c, err := e.model.NewCache(e.ctxSize)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int, n)
	for i := range ids {
		ids[i] = 100 + i
	}
	if err := e.model.Forward(ids, c, nil); err != nil {
		t.Fatal(err)
	}
	return c.Bytes()
}

func TestFailedOrCancelledRequestLeavesNoBadCache(t *testing.T) {
	prompt := strings.Repeat("A prompt long enough to take two steps of the model. ", 30)
	ref := load(t, Options{Threads: 2, Context: 1024, PrefixCache: -1})
	want, err := ref.Generate(context.Background(), Request{Raw: prompt, MaxTokens: 6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want.PromptTokens <= promptBatch {
		t.Fatalf("prompt of %d tokens fits in one step", want.PromptTokens)
	}

	t.Run("failed", func(t *testing.T) {
		e := load(t, Options{Threads: 2, Context: 1024})
		boom := errors.New("injected failure")
		inner := e.sched.forward
		fail := true
		e.sched.forward = func(seqs []arch.Seq) error {
			err := inner(seqs) // the first chunk is written to the cache
			if fail {
				fail = false
				return boom
			}
			return err
		}
		if _, err := e.Generate(context.Background(), Request{Raw: prompt, MaxTokens: 6}, nil); !errors.Is(err, boom) {
			t.Fatalf("got %v, want the injected failure", err)
		}
		if n := len(idleTokens(e)); n != 0 {
			t.Errorf("a failed request left %d idle caches", n)
		}
		got, err := e.Generate(context.Background(), Request{Raw: prompt, MaxTokens: 6}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.CachedTokens != 0 || got.Text != want.Text {
			t.Errorf("after a failure: reused %d tokens, text %q; want 0 and %q", got.CachedTokens, got.Text, want.Text)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		e := load(t, Options{Threads: 2, Context: 1024})
		ctx, cancel := context.WithCancel(context.Background())
		inner := e.sched.forward
		e.sched.forward = func(seqs []arch.Seq) error {
			cancel() // during the first chunk
			return inner(seqs)
		}
		res, err := e.Generate(ctx, Request{Raw: prompt, MaxTokens: 6}, nil)
		if !errors.Is(err, context.Canceled) || res.StopReason != StopCancelled {
			t.Fatalf("got %v (%s), want cancelled", err, res.StopReason)
		}
		e.sched.forward = inner
		got, err := e.Generate(context.Background(), Request{Raw: prompt, MaxTokens: 6}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Only whole, committed chunks may be reused, and they give the
		// same answer.
		if got.CachedTokens != 0 && got.CachedTokens != promptBatch {
			t.Errorf("after a cancelled prompt: reused %d tokens, want 0 or the %d of the finished chunk", got.CachedTokens, promptBatch)
		}
		if got.Text != want.Text {
			t.Errorf("after a cancelled prompt: %q, want %q", got.Text, want.Text)
		}
	})
}
