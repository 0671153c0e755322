package wecom

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"golang.org/x/net/netutil"

	"github.com/chatloop/chatloop/adapters/platform"
	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/internal/sendq"
)

// Platform is the platform name in messages and the feedback store.
const Platform = "wecom"

// Option changes how an Adapter is built (tests, embedding).
type Option func(*Adapter)

// WithHTTPClient sets the client for WeCom's API (default: one honouring
// HTTP_PROXY/HTTPS_PROXY/NO_PROXY with a 30 s timeout).
func WithHTTPClient(c *http.Client) Option { return func(a *Adapter) { a.api.http = c } }

// WithListener serves the callback on ln instead of listening on
// Config.Listen.
func WithListener(ln net.Listener) Option { return func(a *Adapter) { a.ln = ln } }

// WithConn makes the adapter report whether WeCom's API answers to c: up
// once the callback is served and each time a call goes through, down
// (with the reason) when the API cannot be reached or refuses the
// application's secret.
func WithConn(c platform.Conn) Option { return func(a *Adapter) { a.api.conn = c } }

// WithClock sets the clock used for callback timestamps and token expiry.
func WithClock(now func() time.Time) Option {
	return func(a *Adapter) { a.now = now; a.api.now = now }
}

// Adapter serves a WeCom application's callback URL and answers through
// WeCom's API.
type Adapter struct {
	cfg    Config
	h      bot.Handler
	log    *slog.Logger
	crypt  *msgCrypt
	api    *apiClient
	ln     net.Listener
	now    func() time.Time
	replay *replayGuard
	seen   SeenStore // nil: replays caught in memory only
	chatIK []byte    // key for chat ids derived from user ids

	maxConns    int
	bodyTimeout time.Duration
	sends       *sendq.Queue // notices and card updates (see background)

}

// New checks cfg, reads the secrets and builds an adapter handing events
// to h. It does not listen yet: Run does.
func New(cfg Config, h bot.Handler, log *slog.Logger, opts ...Option) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.validateIdentity(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("%w: no handler", ErrConfig)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sec, err := cfg.loadSecrets()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{}
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = dt.Clone()
	}
	tr.Proxy = http.ProxyFromEnvironment
	a := &Adapter{
		cfg:   cfg,
		h:     h,
		log:   log.With("platform", Platform),
		crypt: &msgCrypt{token: sec.token, key: sec.aesKey, receiver: cfg.CorpID},
		api: &apiClient{
			base: cfg.apiBase(), corpID: cfg.CorpID, secret: sec.secret, agentID: cfg.AgentID,
			http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, now: time.Now,
		},
		now:         time.Now,
		maxConns:    defaultMaxConnections,
		bodyTimeout: defaultBodyTimeout,
	}
	mac := hmac.New(sha256.New, sec.aesKey)
	mac.Write([]byte("chatloop wecom chat id\x00" + cfg.CorpID))
	a.chatIK = mac.Sum(nil)
	for _, o := range opts {
		o(a)
	}
	a.sends = sendq.New("wecom notices", a.log, noticeSenders, noticeQueue, noticeTimeout)
	a.replay = newReplayGuard(2 * cfg.maxSkew())
	return a, nil
}

// Run serves the callback until ctx is done, then stops accepting
// callbacks, waits for work in flight and returns. It returns an error only
// when it cannot listen.
func (a *Adapter) Run(ctx context.Context) error {
	ln := a.ln
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", a.cfg.listen()); err != nil {
			// Another program holds the port, or it is not ours to take.
			return platform.Permanent(fmt.Errorf("listening on %s: %w", a.cfg.listen(), err))
		}
	}
	ln = netutil.LimitListener(ln, a.maxConns)
	cb, path := a.callback(ctx), a.cfg.path()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				http.NotFound(w, r)
				return
			}
			cb.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       5*time.Second + a.bodyTimeout,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       15 * time.Second,
		MaxHeaderBytes:    maxBody,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	a.log.Info("serving the WeCom callback", "addr", ln.Addr().String(), "path", a.cfg.path())
	a.api.connection().Up()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shut)
	a.sends.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("wecom: serving the callback: %w", err)
	}
	return nil
}

// callback is the HTTP handler of the callback URL. Work it starts runs
// under ctx, the adapter's run context.
func (a *Adapter) callback(ctx context.Context) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		sig, ts, nonce := q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce")
		switch r.Method {
		case http.MethodGet:
			echo := q.Get("echostr")
			plain, status, err := a.open(r.Context(), sig, ts, nonce, echo)
			if err != nil {
				a.refuse(w, r, status, err)
				return
			}
			a.log.Info("callback URL verified")
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write(plain)
		case http.MethodPost:
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(a.bodyTimeout))
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
			if err != nil {
				status := http.StatusBadRequest
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					status = http.StatusRequestEntityTooLarge
				}
				a.refuse(w, r, status, fmt.Errorf("reading the body: %w", err))
				return
			}
			// The signature covers the Encrypt field only: find it with
			// a bounded scan and check it before any XML parser runs.
			encrypted, ok := encryptField(body)
			if !ok {
				a.refuse(w, r, http.StatusBadRequest, fmt.Errorf("%w: no Encrypt element", ErrUndecryptable))
				return
			}
			plain, status, err := a.open(r.Context(), sig, ts, nonce, encrypted)
			if err != nil {
				a.refuse(w, r, status, err)
				return
			}
			var m inbound
			if err := xml.Unmarshal(plain, &m); err != nil {
				a.refuse(w, r, http.StatusBadRequest, fmt.Errorf("%w: decrypted XML: %w", ErrUndecryptable, err))
				return
			}
			// Acknowledge at once (an empty 200 means "no passive
			// reply"); the answer goes out through message/send.
			w.WriteHeader(http.StatusOK)
			if m.MsgID != "" && !a.firstSeen(r.Context(), "msgid\x00"+m.MsgID, a.now()) {
				// WeCom sends a callback again, newly signed, when
				// it got no answer in time: handled once.
				a.log.Info("repeated message ignored")
				return
			}
			a.dispatch(ctx, m)
		default:
			a.refuse(w, r, http.StatusMethodNotAllowed, errors.New("method not allowed"))
		}
	})
}

// refuse answers a bad callback with status and logs why (never the
// parameters, which are attacker-controlled or secret-derived).
func (a *Adapter) refuse(w http.ResponseWriter, r *http.Request, status int, err error) {
	a.log.Warn("callback refused", "method", r.Method, "status", status, "err", err)
	http.Error(w, http.StatusText(status), status)
}

// Errors for callbacks refused before decryption.
var (
	ErrStale    = errors.New("wecom: stale or future timestamp")
	ErrReplayed = errors.New("wecom: replayed callback")
)

// open checks a callback's signature, freshness and novelty, and
// decrypts it. status is the HTTP status to refuse it with.
func (a *Adapter) open(ctx context.Context, sig, ts, nonce, encrypted string) ([]byte, int, error) {
	if sig == "" || ts == "" || nonce == "" || encrypted == "" {
		return nil, http.StatusBadRequest, errors.New("missing msg_signature, timestamp, nonce or ciphertext")
	}
	if err := a.crypt.verify(sig, ts, nonce, encrypted); err != nil {
		return nil, http.StatusForbidden, err
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("%w: timestamp not a number", ErrStale)
	}
	now := a.now()
	if d := now.Sub(time.Unix(sec, 0)).Abs(); d > a.cfg.maxSkew() {
		return nil, http.StatusForbidden, fmt.Errorf("%w: %v off", ErrStale, d.Round(time.Second))
	}
	plain, err := a.crypt.decrypt(encrypted)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	if !a.firstSeen(ctx, sig+"\x00"+nonce, now) {
		return nil, http.StatusConflict, ErrReplayed
	}
	return plain, 0, nil
}

// inbound is a decrypted callback: a message or an event.
type inbound struct {
	ToUserName   string `xml:"ToUserName"`
	FromUserName string `xml:"FromUserName"`
	CreateTime   int64  `xml:"CreateTime"`
	MsgType      string `xml:"MsgType"`
	Content      string `xml:"Content"`
	MsgID        string `xml:"MsgId"`
	AgentID      string `xml:"AgentID"`
	Event        string `xml:"Event"`
	EventKey     string `xml:"EventKey"`
	TaskID       string `xml:"TaskId"`
	CardType     string `xml:"CardType"`
	ResponseCode string `xml:"ResponseCode"`
}

// chatID names the private chat of a member with the application: a keyed
// hash of the user id, so that the store never holds the raw id.
func (a *Adapter) chatID(user string) bot.ChatID {
	mac := hmac.New(sha256.New, a.chatIK)
	mac.Write([]byte(user))
	return bot.ChatID("dm:" + hex.EncodeToString(mac.Sum(nil)[:12]))
}

// dispatch hands a decrypted callback to the core.
func (a *Adapter) dispatch(ctx context.Context, m inbound) {
	if m.FromUserName == "" {
		a.log.Warn("callback without a sender ignored", "type", m.MsgType)
		return
	}
	if m.AgentID != "" && m.AgentID != a.api.agentString() {
		a.log.Warn("callback for another application ignored", "agent", m.AgentID)
		return
	}
	if len(a.cfg.AllowedUsers) > 0 && !slices.Contains(a.cfg.AllowedUsers, m.FromUserName) {
		a.log.Debug("callback from a member not in allowed_users ignored", "type", m.MsgType)
		return
	}
	r := &replier{a: a, user: m.FromUserName}
	chat := a.chatID(m.FromUserName)
	switch m.MsgType {
	case "text":
		if kind, ok := thumbs(m.Content); ok {
			a.h.HandleReaction(ctx, bot.Reaction{Platform: Platform, ChatID: chat, UserID: bot.UserID(m.FromUserName), Kind: kind}, r)
			return
		}
		msg := bot.Message{
			Platform:  Platform,
			ChatID:    chat,
			MessageID: bot.MessageID(m.MsgID),
			SenderID:  bot.UserID(m.FromUserName),
			Text:      m.Content,
			IsDirect:  true,
		}
		if m.CreateTime > 0 {
			msg.Time = time.Unix(m.CreateTime, 0)
		}
		a.h.HandleMessage(ctx, msg, r)
	case "event":
		switch m.Event {
		case "template_card_event":
			a.button(ctx, m, chat, r)
		default:
			a.log.Debug("event ignored", "event", m.Event)
		}
	case "image", "voice", "video", "file", "location", "link":
		a.background(ctx, "text-only notice", func(ctx context.Context) {
			if err := r.Send(ctx, mediaNotice); err != nil {
				a.log.Warn("sending the text-only notice", "err", err)
			}
		})
	default:
		a.log.Debug("message type ignored", "type", m.MsgType)
	}
}

// mediaNotice answers anything but text.
const mediaNotice = "我目前只能读文字消息。/ I can only read text messages."

// button turns a card button press into a reaction and updates the card.
func (a *Adapter) button(ctx context.Context, m inbound, chat bot.ChatID, r *replier) {
	kind, id, ok := parseKey(m.EventKey)
	if !ok {
		a.log.Info("card button with an unknown key ignored")
		return
	}
	x := bot.Reaction{Platform: Platform, ChatID: chat, UserID: bot.UserID(m.FromUserName), Kind: kind, AnswerID: id}
	var rr bot.Replier
	if kind == bot.ReactionRegen {
		rr = r
	}
	a.h.HandleReaction(ctx, x, rr)
	if m.ResponseCode == "" {
		return
	}
	label := ""
	switch kind {
	case bot.ReactionChooseA:
		label = "A"
	case bot.ReactionChooseB:
		label = "B"
	}
	card := voteCard(id, label, kind)
	a.background(ctx, "card update", func(ctx context.Context) {
		if err := a.api.updateCard(ctx, m.FromUserName, m.ResponseCode, card); err != nil {
			a.log.Warn("updating the vote card", "answer", id, "err", err)
		}
	})
}
