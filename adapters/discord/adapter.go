package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/chatloop/chatloop/adapters/platform"
	"github.com/chatloop/chatloop/bot"
)

// Platform is the platform name in bot.Message and the feedback store.
const Platform = "discord"

// messageLimit is Discord's maximum message length in characters.
const messageLimit = 2000

// baseIntents are the gateway intents the adapter always asks for.
const baseIntents = discordgo.IntentsGuilds |
	discordgo.IntentsGuildMessages |
	discordgo.IntentsGuildMessageReactions |
	discordgo.IntentsDirectMessages |
	discordgo.IntentsDirectMessageReactions

// intents adds the privileged message-content intent when configured; it
// must be enabled in the developer portal.
func (c Config) intents() discordgo.Intent {
	if c.MessageContent {
		return baseIntents | discordgo.IntentsMessageContent
	}
	return baseIntents
}

// ErrUnauthorized is returned by Run when Discord refuses the bot token.
var ErrUnauthorized = platform.Permanent(errors.New("discord refused the bot token"))

// ErrIntents is returned by Run when Discord refuses the gateway intents:
// usually the Message Content intent is not enabled for the bot in the
// developer portal.
var ErrIntents = platform.Permanent(errors.New("discord refused the gateway intents: enable the Message Content intent for the bot in the developer portal, or set [discord] message_content = false"))

// Adapter connects one Discord bot to a bot.Handler.
type Adapter struct {
	cfg    Config
	h      bot.Handler
	log    *slog.Logger
	token  string
	client *http.Client
	dialer *websocket.Dialer
	prefix string
	conn   platform.Conn

	mu     sync.Mutex
	botID  string
	appID  string
	closed bool
	done   <-chan struct{} // closed when Run ends
	wg     sync.WaitGroup

	registerOnce sync.Once
	reactions    chan reactionEvent

	// answers maps the platform id of each message an answer was shown as
	// to the id of the question it answers ("" when unknown).
	answers *idCache
	// notOwn caches message ids known not to be answers of this bot.
	notOwn *idCache
	// threads caches whether a channel is a thread ("1") or not ("0").
	threads *idCache
	// parents caches the channel each thread belongs to.
	parents *idCache
}

// errGatewayLost is the reason a dropped gateway connection is reported
// with; discordgo reconnects by itself.
var errGatewayLost = errors.New("the gateway connection dropped; reconnecting")

// Option changes how an Adapter is built.
type Option func(*Adapter)

// WithHTTPClient makes the adapter use c for REST calls. Its transport
// should honour HTTP_PROXY/HTTPS_PROXY/NO_PROXY.
func WithHTTPClient(c *http.Client) Option { return func(a *Adapter) { a.client = c } }

// WithDialer makes the adapter use d for the gateway websocket.
func WithDialer(d *websocket.Dialer) Option { return func(a *Adapter) { a.dialer = d } }

// WithPrefix tells the adapter the core's trigger prefix ([bot] prefix),
// so that prefixed messages get reply-chain context too.
func WithPrefix(p string) Option { return func(a *Adapter) { a.prefix = p } }

// WithConn makes the adapter report its gateway connection to c: up once
// the gateway session is ready or resumed, down when it drops (discordgo
// reconnects by itself) or cannot be opened.
func WithConn(c platform.Conn) Option {
	return func(a *Adapter) {
		if c != nil {
			a.conn = c
		}
	}
}

// WithToken sets the bot token directly instead of reading DISCORD_TOKEN
// or token_file.
func WithToken(t string) Option { return func(a *Adapter) { a.token = t } }

// New checks cfg, reads the bot token and returns an adapter that hands
// Discord events to h. Nothing is contacted before Run.
func New(cfg Config, h bot.Handler, log *slog.Logger, opts ...Option) (*Adapter, error) {
	if h == nil {
		return nil, errors.New("discord: nil handler")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Adapter{
		cfg:       cfg,
		h:         h,
		log:       log,
		conn:      platform.NoConn{},
		reactions: make(chan reactionEvent, 256),
		answers:   newIDCache(8192),
		notOwn:    newIDCache(4096),
		threads:   newIDCache(1024),
		parents:   newIDCache(1024),
	}
	for _, o := range opts {
		o(a)
	}
	if a.token == "" {
		t, err := cfg.Token()
		if err != nil {
			return nil, fmt.Errorf("discord: %w", err)
		}
		a.token = t
	}
	a.token = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(a.token), "Bot "))
	if a.token == "" {
		return nil, fmt.Errorf("discord: %w", ErrNoToken)
	}
	if a.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = http.ProxyFromEnvironment
		a.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	if a.dialer == nil {
		a.dialer = &websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: 30 * time.Second,
			NetDialContext:   (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		}
	}
	return a, nil
}

// Run connects to Discord and hands its events to the handler until ctx is
// done, then disconnects. discordgo reconnects and resumes by itself after
// a dropped gateway connection; Run retries the first connection with
// back-off. It returns an error only when the token or the intents are
// refused (ErrUnauthorized, ErrIntents).
func (a *Adapter) Run(ctx context.Context) error {
	useAPIBase(a.cfg.apiBase())
	setLogger(a.log, a.token)

	s, err := discordgo.New("Bot " + a.token)
	if err != nil {
		return fmt.Errorf("discord: new session: %w", err)
	}
	s.Client = a.client
	s.Dialer = a.dialer
	s.Identify.Intents = a.cfg.intents()
	s.SyncEvents = true // handlers only queue work; ordering is kept
	s.LogLevel = discordgo.LogWarning
	s.ShouldReconnectOnError = true
	s.ShouldRetryOnRateLimit = true

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	a.closed = false
	a.done = ctx.Done()
	a.mu.Unlock()

	s.AddHandler(func(s *discordgo.Session, r *discordgo.Ready) { a.conn.Up(); a.onReady(ctx, s, r) })
	s.AddHandler(func(s *discordgo.Session, _ *discordgo.Resumed) { a.conn.Up(); a.log.Info("gateway session resumed") })
	s.AddHandler(func(s *discordgo.Session, _ *discordgo.Disconnect) {
		if !a.isClosed() {
			a.conn.Down(errGatewayLost)
		}
	})
	s.AddHandler(func(s *discordgo.Session, _ *discordgo.Connect) {
		if a.isClosed() {
			// A reconnect raced with shutdown: close again.
			go s.Close()
		}
	})
	s.AddHandler(func(s *discordgo.Session, e *discordgo.MessageCreate) {
		if e.Message != nil {
			a.spawn(func() { a.onMessage(ctx, s, e.Message) })
		}
	})
	s.AddHandler(func(s *discordgo.Session, e *discordgo.MessageDelete) {
		if e.Message != nil {
			a.onDelete(e.Message)
		}
	})
	s.AddHandler(func(s *discordgo.Session, e *discordgo.MessageReactionAdd) {
		if e.MessageReaction != nil {
			a.queueReaction(ctx, reactionEvent{r: *e.MessageReaction, member: e.Member})
		}
	})
	s.AddHandler(func(s *discordgo.Session, e *discordgo.MessageReactionRemove) {
		if e.MessageReaction != nil {
			a.queueReaction(ctx, reactionEvent{r: *e.MessageReaction, removed: true})
		}
	})
	s.AddHandler(func(s *discordgo.Session, e *discordgo.InteractionCreate) {
		if e.Interaction != nil {
			a.spawn(func() { a.onInteraction(ctx, s, e.Interaction) })
		}
	})

	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.reactionWorker(ctx, s)
	}()

	err = a.connect(ctx, s)
	if err == nil {
		<-ctx.Done()
	}
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	if cerr := s.Close(); cerr != nil {
		a.log.Debug("closing gateway", "err", cerr)
	}
	cancel()
	a.wg.Wait()
	a.log.Info("disconnected")
	if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrIntents) {
		return err
	}
	return nil
}

// connect checks the token and opens the gateway, retrying with back-off
// until it works, the token is refused, or ctx is done.
func (a *Adapter) connect(ctx context.Context, s *discordgo.Session) error {
	wait := time.Second
	for {
		err := a.tryConnect(ctx, s)
		if err == nil || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrIntents) {
			return err
		}
		a.log.Warn("cannot connect to Discord; retrying", "err", err, "in", wait)
		a.conn.Down(err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 2*time.Minute)
	}
}

func (a *Adapter) tryConnect(ctx context.Context, s *discordgo.Session) error {
	me, err := s.User("@me", discordgo.WithContext(ctx))
	if err != nil {
		var rerr *discordgo.RESTError
		if errors.As(err, &rerr) && rerr.Response != nil && rerr.Response.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("%w (HTTP 401)", ErrUnauthorized)
		}
		return fmt.Errorf("discord: look up the bot user: %w", err)
	}
	a.mu.Lock()
	a.botID = me.ID
	a.mu.Unlock()
	if err := s.Open(); err != nil {
		var cerr *websocket.CloseError
		if errors.As(err, &cerr) {
			switch cerr.Code {
			case 4004: // authentication failed
				return fmt.Errorf("the gateway says %q: %w", cerr.Text, ErrUnauthorized)
			case 4013, 4014: // invalid or disallowed intents
				return fmt.Errorf("the gateway says %q: %w", cerr.Text, ErrIntents)
			}
		}
		return fmt.Errorf("discord: open the gateway: %w", err)
	}
	a.log.Info("connected to the gateway", "bot", me.Username)
	return nil
}

func (a *Adapter) isClosed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

func (a *Adapter) bot() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.botID
}

// stopped is closed when Run is ending.
func (a *Adapter) stopped() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.done
}

// spawn runs f in a goroutine that Run waits for, unless Run is ending.
func (a *Adapter) spawn(f func()) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.wg.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.wg.Done()
		f()
	}()
}

func (a *Adapter) onReady(ctx context.Context, s *discordgo.Session, r *discordgo.Ready) {
	a.mu.Lock()
	if r.User != nil {
		a.botID = r.User.ID
	}
	if r.Application != nil && r.Application.ID != "" {
		a.appID = r.Application.ID
	}
	appID := a.appID
	a.mu.Unlock()
	a.log.Info("gateway ready", "guilds", len(r.Guilds))
	if !a.cfg.RegisterCommands || appID == "" {
		return
	}
	a.registerOnce.Do(func() {
		a.spawn(func() { a.registerCommands(ctx, s, appID) })
	})
}

// onDelete withdraws a deleted question and forgets a deleted answer.
func (a *Adapter) onDelete(m *discordgo.Message) {
	if m.ID == "" {
		return
	}
	a.answers.forget(m.ID)
	a.h.Withdraw(Platform, bot.ChatID(m.ChannelID), bot.MessageID(m.ID))
}

// restErrorCode returns Discord's JSON error code and the HTTP status of a
// REST error, or zeros.
func restErrorCode(err error) (code, status int) {
	var rerr *discordgo.RESTError
	if !errors.As(err, &rerr) {
		return 0, 0
	}
	if rerr.Message != nil {
		code = rerr.Message.Code
	}
	if rerr.Response != nil {
		status = rerr.Response.StatusCode
	}
	return code, status
}

// isUnknownMessage reports whether err says the message does not exist
// (any more).
func isUnknownMessage(err error) bool {
	code, status := restErrorCode(err)
	return code == discordgo.ErrCodeUnknownMessage || status == http.StatusNotFound
}

// noMentions lets nothing in a message ping anyone.
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// idCache is a bounded map of message ids, oldest evicted first.
type idCache struct {
	mu    sync.Mutex
	max   int
	m     map[string]string
	order []string
}

func newIDCache(max int) *idCache { return &idCache{max: max, m: make(map[string]string)} }

func (c *idCache) put(k, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		c.order = append(c.order, k)
	}
	c.m[k] = v
	for len(c.m) > c.max && len(c.order) > 0 {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	if len(c.order) > 2*c.max { // compact after forgets
		kept := c.order[:0]
		for _, k := range c.order {
			if _, ok := c.m[k]; ok {
				kept = append(kept, k)
			}
		}
		c.order = kept
	}
}

func (c *idCache) get(k string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *idCache) forget(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

// logger forwards discordgo's own log lines to slog with the token
// redacted. discordgo's logger is process-wide.
var (
	loggerMu   sync.Mutex
	loggerOnce sync.Once
	dgLog      *slog.Logger
	dgSecrets  []string
)

func setLogger(log *slog.Logger, token string) {
	loggerMu.Lock()
	dgLog = log.With("lib", "discordgo")
	dgSecrets = []string{token}
	loggerMu.Unlock()
	loggerOnce.Do(func() { discordgo.Logger = forwardLog })
}

func forwardLog(level, _ int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strings.Contains(format, "Data:") || strings.Contains(format, "%#v") || strings.Contains(format, "PAYLOAD") {
		// Raw gateway payloads carry user ids and message text: keep
		// only the words before them.
		msg, _, _ = strings.Cut(format, "%")
		msg += " (payload withheld)"
	}
	loggerMu.Lock()
	l, secrets := dgLog, dgSecrets
	loggerMu.Unlock()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[token]")
		}
	}
	msg = strings.TrimSpace(msg)
	switch level {
	case discordgo.LogError:
		l.Error(msg)
	case discordgo.LogWarning:
		l.Warn(msg)
	case discordgo.LogInformational:
		l.Info(msg)
	default:
		l.Debug(msg)
	}
}
