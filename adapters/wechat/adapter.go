package wechat

import (
	"context"
	"errors"
	"fmt"
	"github.com/chatloop/chatloop/internal/atomicfile"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/eatmoreapple/openwechat"
	"github.com/mdp/qrterminal/v3"
	"github.com/skip2/go-qrcode"

	"github.com/chatloop/chatloop/adapters/platform"
	"github.com/chatloop/chatloop/bot"
)

// Platform is the platform name in bot.Message and the feedback store.
const Platform = "wechat"

// userAgent is the UOS desktop client's, as openwechat's desktop mode sends.
const userAgent = "Mozilla/5.0 (Linux; U; UOS x86_64; zh-cn) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0.4472.124 Safari/537.36 UOSBrowser/6.0.1.1001"

// qrContentPrefix is what the login QR code encodes, followed by the uuid.
const qrContentPrefix = "https://login.weixin.qq.com/l/"

// WeChat's answers to a sync check that mean the session is gone.
const (
	retLoginWarn   = 1100
	retLoggedOut   = 1101
	retBadCookie   = 1102
	retTooOften    = 1205
	tooOftenPause  = 60 * time.Second
	maxLoginWait   = 5 * time.Minute
	maxSyncBackoff = time.Minute
)

// ErrQRLoginNeeded is the reason the adapter reports itself down while
// its login QR code waits to be scanned.
var ErrQRLoginNeeded = errors.New("waiting for a QR scan to log in")

// ErrNotLoggedIn is returned by sends while no WeChat session is up.
var ErrNotLoggedIn = errors.New("wechat: not logged in")

// Adapter connects one personal WeChat account to a bot.Handler.
type Adapter struct {
	cfg    Config
	h      bot.Handler
	log    *slog.Logger
	client *http.Client
	qrOut  io.Writer
	toks   tokens
	thr    *throttle
	mem    *memory
	conn   platform.Conn

	// Back-off after a failed login and after failed sync checks, and how
	// long a login from the saved session must last to be tried again;
	// tests shorten them.
	loginBackoff, maxLoginBackoff time.Duration
	syncBackoff                   time.Duration
	minSession                    time.Duration

	mu      sync.Mutex
	cur     *session
	changed chan struct{} // closed and replaced whenever cur changes

	wg sync.WaitGroup // notices sent outside the core

	// gate lets Run wait for message handling in openwechat's goroutines
	// and turn later calls away once it stops.
	gate     sync.Mutex
	stopped  bool
	inflight sync.WaitGroup
}

// session is one login: one openwechat bot with its own cookies.
type session struct {
	bot      *openwechat.Bot
	cancel   context.CancelFunc
	storage  *loginStorage
	hot      bool   // logged in from the saved session
	selfName string // the account's session user name
}

// end stops a login: its goroutine's requests are cancelled and its
// storage takes no more writes.
func (s *session) end() {
	s.cancel()
	s.storage.close()
}

// Option changes how an Adapter is built.
type Option func(*Adapter)

// WithHTTPClient makes openwechat use c (a shallow copy per login: it
// installs its own cookie jar). Its transport should honour
// HTTP_PROXY/HTTPS_PROXY/NO_PROXY, and it should not follow redirects.
func WithHTTPClient(c *http.Client) Option { return func(a *Adapter) { a.client = c } }

// WithConn makes the adapter report its connection to c: up once logged
// in and while sync checks answer, down (with the reason) while it waits
// for a QR scan, a login fails, sync checks fail or the login is lost.
func WithConn(c platform.Conn) Option {
	return func(a *Adapter) {
		if c != nil {
			a.conn = c
		}
	}
}

// WithQROutput sets where the login QR code is printed (default stdout).
func WithQROutput(w io.Writer) Option { return func(a *Adapter) { a.qrOut = w } }

// New checks cfg and returns an adapter that hands WeChat messages to h.
// Nothing is contacted before Run.
func New(cfg Config, h bot.Handler, log *slog.Logger, opts ...Option) (*Adapter, error) {
	if h == nil {
		return nil, errors.New("wechat: nil handler")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("wechat: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Adapter{
		cfg:             cfg,
		h:               h,
		log:             log.With("adapter", Platform),
		qrOut:           os.Stdout,
		conn:            platform.NoConn{},
		toks:            newTokens(cfg),
		thr:             newThrottle(cfg.ChatInterval.Duration, cfg.GlobalInterval.Duration, cfg.Jitter.Duration),
		mem:             newMemory(),
		loginBackoff:    5 * time.Second,
		maxLoginBackoff: 5 * time.Minute,
		syncBackoff:     2 * time.Second,
		minSession:      time.Minute,
		changed:         make(chan struct{}),
	}
	for _, o := range opts {
		o(a)
	}
	if a.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = http.ProxyFromEnvironment
		a.client = &http.Client{
			Transport: tr,
			// openwechat reads the login redirect itself.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			// Above the 25 s long polls of login and sync checks.
			Timeout: 45 * time.Second,
		}
	}
	return a, nil
}

// Run logs in and hands WeChat messages to the handler until ctx is done.
// When the login is lost it logs in again, first from the saved session,
// then with a new QR code, for as long as ctx lives. It returns an error
// only when the storage file's directory cannot be used.
func (a *Adapter) Run(ctx context.Context) error {
	if dir := filepath.Dir(a.cfg.StorageFile); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return platform.Permanent(fmt.Errorf("key storage_file: %w", err))
		}
	}
	defer a.shutdown()
	backoff := a.loginBackoff
	forceQR := false
	for ctx.Err() == nil {
		s, err := a.login(ctx, forceQR)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, openwechat.ErrLoginTimeout) {
				a.log.Info("the QR code expired before it was scanned; here is a new one")
				continue
			}
			a.log.Error("WeChat login failed; retrying", "err", err, "in", backoff)
			a.conn.Down(fmt.Errorf("login: %w", err))
			if !sleep(ctx, backoff) {
				break
			}
			backoff = min(2*backoff, a.maxLoginBackoff)
			continue
		}
		backoff = a.loginBackoff
		a.setSession(s)
		a.log.Info("logged in to WeChat; answering messages")
		a.conn.Up()
		began := time.Now()

		select {
		case <-ctx.Done():
		case <-s.bot.Context().Done():
		}
		a.setSession(nil)
		s.end()
		if ctx.Err() != nil {
			break
		}
		// A saved session that WeChat accepts and drops again at once would
		// have the adapter log in over and over: ask for a QR scan instead.
		forceQR = s.hot && time.Since(began) < a.minSession
		a.conn.Down(fmt.Errorf("the login was lost: %v", s.bot.CrashReason()))
		if forceQR {
			a.log.Warn("WeChat login lost right after a login with the saved session; a QR login is needed", "reason", s.bot.CrashReason())
			continue
		}
		a.log.Warn("WeChat login lost; logging in again (saved session first, then QR code)", "reason", s.bot.CrashReason())
	}
	return nil
}

// shutdown waits for message handling under way and for notices, and
// turns later messages away.
func (a *Adapter) shutdown() {
	a.gate.Lock()
	a.stopped = true
	a.gate.Unlock()
	a.inflight.Wait()
	a.wg.Wait()
	a.log.Info("WeChat adapter stopped")
}

// enter admits one message handling unless Run has stopped; the caller
// calls a.inflight.Done when admitted.
func (a *Adapter) enter() bool {
	a.gate.Lock()
	defer a.gate.Unlock()
	if a.stopped {
		return false
	}
	a.inflight.Add(1)
	return true
}

// login logs in from the saved session if there is one, else (or when it
// is refused) with a QR code.
func (a *Adapter) login(ctx context.Context, forceQR bool) (*session, error) {
	path := a.cfg.StorageFile
	if forceQR {
		return a.loginWith(ctx, false)
	}
	if savedSession(path) {
		a.log.Info("logging in with the saved WeChat session", "file", path)
		s, err := a.loginWith(ctx, true)
		if err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		a.log.Warn("the saved WeChat session was refused; a QR login is needed", "err", err)
	} else {
		a.log.Info("no saved WeChat session; a QR login is needed", "file", path)
	}
	return a.loginWith(ctx, false)
}

// loginWith runs one login on a new openwechat bot: a hot login from the
// storage file, or a QR login whose session is then saved there.
func (a *Adapter) loginWith(ctx context.Context, hot bool) (*session, error) {
	bctx, cancel := context.WithCancel(ctx)
	b := openwechat.NewBot(bctx)
	hc := *a.client
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = guardTransport{next: next}
	client := openwechat.NewClient(&hc)
	client.AddHttpHook(openwechat.UserAgentHook{UserAgent: userAgent}, redactHook{})
	client.MaxRetryTimes = 2
	b.Caller = openwechat.NewCaller(client)
	openwechat.Desktop.Prepare(b)

	st := newLoginStorage(a.cfg.StorageFile, hot)
	s := &session{bot: b, cancel: cancel, storage: st, hot: hot}
	b.UUIDCallback = a.showQR
	b.ScanCallBack = func(openwechat.CheckLoginResponse) {
		a.log.Info("QR code scanned; confirm the login on the phone")
	}
	b.LoginCallBack = func(openwechat.CheckLoginResponse) {
		a.log.Info("QR login confirmed")
		if err := os.Remove(a.cfg.qrFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.log.Warn("removing the QR code image", "err", err)
		}
	}
	fails := 0
	b.SyncCheckCallback = func(openwechat.SyncCheckResponse) {
		if fails > 0 {
			a.conn.Up()
		}
		fails = 0
	}
	b.MessageErrorHandler = func(err error) error { return a.syncError(bctx, err, &fails) }
	b.MessageHandler = func(m *openwechat.Message) { a.onMessage(bctx, m) }

	var err error
	if hot {
		err = b.HotLogin(st)
	} else {
		err = b.HotLogin(st, &qrFallback{})
	}
	if err != nil {
		s.end()
		return nil, err
	}
	self, err := b.GetCurrentUser()
	if err != nil {
		s.end()
		return nil, fmt.Errorf("after login: %w", err)
	}
	s.selfName = self.UserName
	return s, nil
}

// qrFallback turns the failed read of an empty storage into a QR login.
// openwechat runs the same options again when that login fails, so it
// starts the QR login only once.
type qrFallback struct {
	openwechat.BaseBotLoginOption
	started bool
}

// OnError starts the QR login the first time, and passes later errors on.
func (q *qrFallback) OnError(b *openwechat.Bot, err error) error {
	if q.started {
		return err
	}
	q.started = true
	return b.Login()
}

// showQR prints the login QR code and writes it as a PNG image.
func (a *Adapter) showQR(uuid string) {
	a.conn.Down(ErrQRLoginNeeded)
	content := qrContentPrefix + uuid
	fmt.Fprintln(a.qrOut, "Scan this QR code with WeChat on your phone to log chatloop in:")
	qrterminal.GenerateWithConfig(content, qrterminal.Config{
		Level:          qrterminal.L,
		Writer:         a.qrOut,
		HalfBlocks:     true,
		BlackChar:      qrterminal.BLACK_BLACK,
		WhiteBlackChar: qrterminal.WHITE_BLACK,
		WhiteChar:      qrterminal.WHITE_WHITE,
		BlackWhiteChar: qrterminal.BLACK_WHITE,
		QuietZone:      2,
	})
	path := a.cfg.qrFile()
	png, err := qrcode.Encode(content, qrcode.Medium, 256)
	if err == nil {
		err = atomicfile.WritePrivate(path, png)
	}
	if err != nil {
		a.log.Warn("writing the QR code image", "file", path, "err", err)
		path = ""
	}
	a.log.Info("scan the QR code with WeChat to log in", "png", path, "url", openwechat.GetQrcodeUrl(uuid))
}

// syncError decides what a failed sync check means: a lost session ends
// this login (Run logs in again); anything else is retried after a pause.
func (a *Adapter) syncError(ctx context.Context, err error, fails *int) error {
	var ret openwechat.Ret
	if errors.As(err, &ret) {
		switch int(ret) {
		case retLoginWarn, retLoggedOut, retBadCookie:
			return fmt.Errorf("WeChat ended the session (sync check retcode %d): %w", int(ret), err)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	*fails++
	a.conn.Down(fmt.Errorf("sync check: %w", err))
	if *fails == 1 || *fails%10 == 0 {
		a.log.Warn("WeChat sync check failed; retrying", "err", err, "failures", *fails)
	}
	d := a.syncBackoff << min(*fails-1, 5)
	if !sleep(ctx, min(d, maxSyncBackoff)) {
		return ctx.Err()
	}
	return nil
}

func (a *Adapter) setSession(s *session) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cur = s
	close(a.changed)
	a.changed = make(chan struct{})
}

// session returns the live login, waiting up to maxLoginWait (or ctx) for
// one while a login is under way.
func (a *Adapter) session(ctx context.Context) (*session, error) {
	deadline := time.NewTimer(maxLoginWait)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		s, changed := a.cur, a.changed
		a.mu.Unlock()
		if s != nil {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, ErrNotLoggedIn
		case <-changed:
		}
	}
}

// sleep waits d or until ctx is done, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
