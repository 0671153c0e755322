package bot

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/time/rate"

	"github.com/chatloop/chatloop/internal/sendq"
)

// Options configures a Core.
type Options struct {
	Config    Config
	Generator Generator
	// Store records answers and votes; nil turns feedback off.
	Store FeedbackStore
	// Counter counts tokens with the model's tokenizer; nil estimates.
	Counter TokenCounter
	// Scorer, when set with BestOf > 1, picks the best of BestOf sampled
	// answers (a reward model).
	Scorer    Scorer
	BestOf    int
	Logger    *slog.Logger
	Sampling  Sampling
	MaxTokens int
	// ContextTokens is the model's context window in tokens: every prompt
	// plus MaxTokens is fitted into it. 0 means unknown: only the
	// history_tokens budget applies.
	ContextTokens int
	Stop          []string
	// Now and Rand are for tests; they default to time.Now and a random
	// source.
	Now  func() time.Time
	Rand *mrand.Rand
	// Observer, when set, hears of refusals, which leave no record in the
	// store (metrics count them).
	Observer Observer
	// Tools lets the model call tools while it answers (none when its
	// Box is nil).
	Tools ToolOptions
}

// Observer hears of what the core turns away. Its methods must return
// quickly.
type Observer interface {
	// Refused is called when a message is refused: by a refusal rule
	// (reason is the rule's category), because the queue is full
	// ("busy"), or because it cannot fit the context window ("too_long").
	Refused(platform, reason string)
}

// Scorer scores an answer to a prompt (a reward model). Higher is better.
type Scorer interface {
	Score(ctx context.Context, prompt []Turn, answer string) (float64, error)
}

// Core is the conversation core. It implements Handler.
type Core struct {
	opts     Options
	cfg      Config
	log      *slog.Logger
	refusals []refusal
	admins   map[string]bool

	baseCtx   context.Context
	cancelAll context.CancelFunc
	ready     chan *session

	mu        sync.Mutex
	sessions  map[sessionKey]*session
	queued    int // jobs waiting, across all sessions
	byMessage map[messageKey]*job
	personas  map[chatKey]string
	limiters  map[string]*limiter
	pairs     map[AnswerID][2]AnswerID
	versions  map[AnswerID]*VersionChoice // answers of A/B offers between versions
	rng       *mrand.Rand
	idSource  *ulid.MonotonicEntropy
	closed    bool
	noticed   map[chatKey]bool // groups told of the collection, or being told

	notices    *sendq.Queue // short notices (see notify)
	health     storeHealth
	voteHealth storeHealth // votes and choices not recorded
	// toolsPausedUntil (Unix ns): no tools are offered before then (see
	// toolsPause).
	toolsPausedUntil atomic.Int64
}

var _ Handler = (*Core)(nil)

type messageKey struct {
	platform string
	chat     ChatID
	msg      MessageID
}

type chatKey struct {
	platform string
	chat     ChatID
}

type limiter struct {
	lim  *rate.Limiter
	seen time.Time
}

// job is one unit of queued work on a session.
type job struct {
	msg      Message
	replier  Replier
	regen    AnswerID // non-empty: an alternative to this answer
	ctx      context.Context
	cancel   context.CancelFunc
	queuedAt time.Time
}

// NewCore checks the options and builds a core. Call Run to start its
// workers.
func NewCore(opts Options) (*Core, error) {
	if opts.Generator == nil {
		return nil, errors.New("bot: no generator")
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, fmt.Errorf("bot: config: %w", err)
	}
	if err := opts.Sampling.Validate(); err != nil {
		return nil, fmt.Errorf("bot: sampling: %w", err)
	}
	if err := opts.Tools.Validate(); err != nil {
		return nil, fmt.Errorf("bot: tools: %w", err)
	}
	opts.Tools.defaults()
	refusals, err := compileRefusals(opts.Config.Refusals)
	if err != nil {
		return nil, fmt.Errorf("bot: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxTokens <= 0 {
		opts.MaxTokens = 512
	}
	if opts.ContextTokens < 0 {
		return nil, fmt.Errorf("bot: context window of %d tokens is negative", opts.ContextTokens)
	}
	if opts.ContextTokens > 0 && opts.MaxTokens >= opts.ContextTokens {
		return nil, fmt.Errorf("bot: max_tokens %d leaves no room for a prompt in the context window of %d tokens: lower model.max_tokens or raise model.context", opts.MaxTokens, opts.ContextTokens)
	}
	rng := opts.Rand
	if rng == nil {
		var seed [32]byte
		_, _ = rand.Read(seed[:])
		rng = mrand.New(mrand.NewChaCha8(seed))
	}
	admins := map[string]bool{}
	for _, a := range opts.Config.Admins {
		admins[a] = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Core{
		opts:      opts,
		cfg:       opts.Config,
		log:       opts.Logger,
		refusals:  refusals,
		admins:    admins,
		baseCtx:   ctx,
		cancelAll: cancel,
		ready:     make(chan *session, opts.Config.QueueSize+opts.Config.Workers+1),
		notices:   sendq.New("notices", opts.Logger, MaxNotices, NoticeQueue, 30*time.Second),
		sessions:  map[sessionKey]*session{},
		byMessage: map[messageKey]*job{},
		personas:  map[chatKey]string{},
		limiters:  map[string]*limiter{},
		pairs:     map[AnswerID][2]AnswerID{},
		versions:  map[AnswerID]*VersionChoice{},
		noticed:   map[chatKey]bool{},
		rng:       rng,
		idSource:  ulid.Monotonic(rand.Reader, 0),
	}, nil
}

// Run starts the workers and blocks until ctx is done; then it cancels
// every generation in flight, waits for the workers and returns.
func (c *Core) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.work()
		}()
	}
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			c.expire()
		}
	}
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancelAll()
	close(c.ready)
	wg.Wait()
	return nil
}

// HandleMessage decides whether m is for the bot and queues it.
func (c *Core) HandleMessage(_ context.Context, m Message, r Replier) {
	if r == nil {
		return
	}
	if m.FromBot {
		complete(r)
		return
	}
	m.Text = sanitize(m.Text)
	text, ok := c.triggered(m)
	if !ok || (text == "" && !m.IsDirect && !m.MentionsBot) {
		// An empty reply to an answer is a platform hiding the text (Discord
		// without the message-content intent), not a question.
		complete(r)
		return
	}
	m.Text = text
	cmd, _ := parseCommand(text)
	usesModel := cmd == cmdNone || cmd == cmdRegen
	if usesModel && !c.allow(m.Platform, m.SenderID) {
		c.notify(r, phrase(text, "You are sending messages too fast; please wait a little.", "你发得太快了，请稍等一下再试。"))
		return
	}
	c.enqueue(c.sessionKeyFor(m), &job{msg: m, replier: r}, r)
}

// HandleReaction records a vote or choice, or queues an alternative answer.
func (c *Core) HandleReaction(_ context.Context, x Reaction, r Replier) {
	if x.FromBot || c.opts.Store == nil {
		complete(r)
		return
	}
	ctx := c.baseCtx
	if x.Kind == ReactionUp || x.Kind == ReactionDown || x.Kind == ReactionChooseA || x.Kind == ReactionChooseB {
		out, err := c.readOptOut(ctx, x.Platform, x.UserID)
		if err != nil {
			c.voteFailed(ctx, r, !x.Removed, "vote", "", x.AnswerID, fmt.Errorf("reading consent: %w", err))
		}
		if out || err != nil {
			complete(r)
			return
		}
	}
	id, err := c.resolveAnswer(ctx, x)
	if err != nil {
		c.log.Info("reaction not matched to an answer", "platform", x.Platform, "kind", int(x.Kind), "err", err)
		complete(r)
		return
	}
	switch x.Kind {
	case ReactionUp, ReactionDown:
		v := 1
		if x.Kind == ReactionDown {
			v = -1
		}
		if x.Removed {
			v = 0
		}
		if err := c.opts.Store.Vote(ctx, id, x.Platform, x.UserID, v); err != nil {
			c.voteFailed(ctx, r, true, "vote", "", id, err)
		} else {
			c.voteRecorded()
		}
	case ReactionChooseA, ReactionChooseB:
		if x.Removed {
			return // the first choice counts
		}
		if err := c.choose(ctx, id, x.Kind == ReactionChooseA, x.Platform, x.UserID); err != nil {
			c.voteFailed(ctx, r, true, "choice", "", id, err)
		} else {
			c.voteRecorded()
		}
	case ReactionRegen:
		if !x.Removed && r != nil && c.allow(x.Platform, x.UserID) {
			c.enqueue(c.reactionSession(x), &job{msg: Message{Platform: x.Platform, ChatID: x.ChatID, SenderID: x.UserID}, regen: id, replier: r}, r)
			return
		}
	}
	complete(r)
}

// complete tells a Completer that the core is done with its message.
func complete(r Replier) {
	if cr, ok := r.(Completer); ok {
		cr.Complete()
	}
}

// Withdraw cancels a queued or running message whose author deleted it.
func (c *Core) Withdraw(platform string, chat ChatID, msg MessageID) {
	c.mu.Lock()
	j := c.byMessage[messageKey{platform, chat, msg}]
	c.mu.Unlock()
	if j != nil {
		j.cancel()
	}
}

// triggered reports whether the bot should act on m, and the text with the
// trigger prefix removed.
func (c *Core) triggered(m Message) (string, bool) {
	text := strings.TrimSpace(m.Text)
	if p := strings.TrimSpace(c.cfg.Prefix); p != "" {
		if after, ok := strings.CutPrefix(text, p); ok && (after == "" || strings.HasPrefix(after, " ") || strings.HasPrefix(after, "\n")) {
			return strings.TrimSpace(after), true
		}
	}
	if m.IsDirect || m.MentionsBot {
		return text, true
	}
	if c.opts.Store == nil {
		return "", false
	}
	if m.ReplyTo != "" {
		if _, err := c.opts.Store.AnswerByMessage(c.baseCtx, m.Platform, m.ReplyTo); err == nil {
			return text, true
		}
	}
	if m.QuotedText != "" {
		if _, err := c.answerByQuote(c.baseCtx, m.Platform, m.ChatID, m.QuotedText); err == nil {
			return text, true
		}
	}
	return "", false
}

// reactionSession is the session a reaction's work belongs to: the
// reacting user's own in a group, or the chat's when the chat has one
// session (a direct chat, a shared group session).
func (c *Core) reactionSession(x Reaction) sessionKey {
	perUser := sessionKey{platform: x.Platform, chat: x.ChatID, user: x.UserID}
	whole := sessionKey{platform: x.Platform, chat: x.ChatID}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.sessions[perUser]; !ok {
		if _, ok := c.sessions[whole]; ok {
			return whole
		}
	}
	return perUser
}

func (c *Core) sessionKeyFor(m Message) sessionKey {
	k := sessionKey{platform: m.Platform, chat: m.ChatID}
	if !m.IsDirect && !c.cfg.SharedGroupSession {
		k.user = m.SenderID
	}
	return k
}

// allow applies the per-user token bucket.
func (c *Core) allow(platform string, user UserID) bool {
	if c.cfg.RatePerMinute <= 0 {
		return true
	}
	key := platform + ":" + string(user)
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.limiters[key]
	if l == nil {
		burst := max(c.cfg.RateBurst, 1)
		l = &limiter{lim: rate.NewLimiter(rate.Limit(c.cfg.RatePerMinute/60), burst)}
		c.limiters[key] = l
	}
	l.seen = c.opts.Now()
	return l.lim.AllowN(l.seen, 1)
}

// Queued is how many messages wait for a worker, across all chats.
func (c *Core) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queued
}

func (c *Core) observeRefusal(platform, reason string) {
	if c.opts.Observer != nil {
		c.opts.Observer.Refused(platform, reason)
	}
}

// enqueue adds j to its session's queue, or tells the user the bot is busy
// when the bounded queue is full.
func (c *Core) enqueue(key sessionKey, j *job, r Replier) {
	j.ctx, j.cancel = context.WithCancel(c.baseCtx)
	j.queuedAt = c.opts.Now()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		j.cancel()
		complete(r)
		return
	}
	if c.queued >= c.cfg.QueueSize {
		c.mu.Unlock()
		j.cancel()
		c.log.Warn("queue full, message refused", "platform", key.platform)
		c.observeRefusal(key.platform, "busy")
		c.notify(r, phrase(j.msg.Text, "I'm busy right now; please try again shortly.", "我现在有点忙，请稍后再试。"))
		return
	}
	s := c.sessions[key]
	if s == nil {
		s = &session{key: key}
		c.sessions[key] = s
	}
	s.lastUsed = j.queuedAt
	s.pending = append(s.pending, j)
	c.queued++
	if j.msg.MessageID != "" {
		c.byMessage[messageKey{key.platform, j.msg.ChatID, j.msg.MessageID}] = j
	}
	if !s.running && len(s.pending) == 1 {
		s.running = true
		c.ready <- s
	}
	c.mu.Unlock()
}

// work runs sessions' jobs, one job of a session at a time, in order.
func (c *Core) work() {
	for s := range c.ready {
		c.mu.Lock()
		j := s.pending[0]
		s.pending = s.pending[1:]
		c.queued--
		c.mu.Unlock()

		if j.ctx.Err() == nil {
			c.run(s, j)
		}
		j.cancel()
		complete(j.replier)

		c.mu.Lock()
		if j.msg.MessageID != "" {
			delete(c.byMessage, messageKey{s.key.platform, j.msg.ChatID, j.msg.MessageID})
		}
		s.lastUsed = c.opts.Now()
		if len(s.pending) > 0 && !c.closed {
			c.ready <- s
		} else {
			s.running = false
		}
		c.mu.Unlock()
	}
}

// expire drops idle sessions and rate limiters.
func (c *Core) expire() {
	now := c.opts.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, s := range c.sessions {
		if !s.running && len(s.pending) == 0 && now.Sub(s.lastUsed) > c.cfg.SessionIdle.Duration {
			delete(c.sessions, k)
		}
	}
	for k, l := range c.limiters {
		if now.Sub(l.seen) > time.Hour {
			delete(c.limiters, k)
		}
	}
}

// notify sends a short notice without blocking the caller, then completes
// the Replier: the message it answers is done with. At most MaxNotices are
// sent at once and NoticeQueue wait; beyond that the notice is dropped
// (counted and logged by the queue) and the Replier completed at once.
func (c *Core) notify(r Replier, text string) {
	c.notices.Add(c.baseCtx, func(ctx context.Context) {
		defer complete(r)
		if err := r.Send(ctx, text); err != nil {
			c.log.Warn("sending notice", "err", err)
		}
	}, func() { complete(r) })
}

func (c *Core) newID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ulid.MustNew(ulid.Timestamp(c.opts.Now()), c.idSource).String()
}

func (c *Core) isAdmin(platform string, user UserID) bool {
	return c.admins[platform+":"+string(user)]
}

func (c *Core) systemPrompt(platform string, chat ChatID) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.personas[chatKey{platform, chat}]; ok {
		return p
	}
	return c.cfg.SystemPrompt
}

func (c *Core) countTokens(s string) int {
	if c.opts.Counter != nil {
		return c.opts.Counter.CountTokens(s)
	}
	return estimateTokens(s)
}
