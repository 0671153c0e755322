// Package web is chatloop's dashboard: server-rendered pages (html/template,
// assets embedded, nothing fetched from elsewhere, so it works offline) that
// show what the bot collected — approval per model version with its
// confidence interval, votes per platform per day, every answer with the
// context the model saw and its siblings, the adapters' state with the
// WeChat login QR code — and let an operator download exports. It also
// serves /metrics, /api/stats and /healthz.
//
// It reads the feedback store through the Store interface it declares.
// On a non-loopback address it needs a token: a browser logs in with it
// once and gets a session cookie; scripts send it as a bearer token.
package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// Store is what the dashboard reads. *feedback.Store satisfies it.
type Store interface {
	Stats(ctx context.Context) (feedback.Stats, error)
	Answers(ctx context.Context, f feedback.AnswerFilter) ([]feedback.AnswerView, bool, error)
	AnswerWithSiblings(ctx context.Context, id bot.AnswerID) (feedback.AnswerView, []feedback.AnswerView, error)
	Export(ctx context.Context, w io.Writer, o feedback.ExportOptions) (int, error)
}

// Options configure the dashboard.
type Options struct {
	Store Store
	// Token, when not empty, is required: a browser logs in with it, a
	// script sends "Authorization: Bearer TOKEN". Without one the
	// dashboard answers only requests addressed to a loopback host name
	// (see CheckListen).
	Token string
	// Metrics serves /metrics; nil serves 404 there.
	Metrics http.Handler
	// Adapters reports the adapters' state; nil shows none.
	Adapters func() []AdapterState
	// Runs reports the latest reward-model and tuning runs; nil shows
	// none.
	Runs   func() []Run
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Run is one training run shown on the overview.
type Run struct {
	Kind    string // "reward" or "tune"
	Path    string
	When    time.Time
	Summary string
}

// ErrNeedToken means a non-loopback address was given without a token.
var ErrNeedToken = errors.New("the dashboard listens beyond this machine but has no token: set CHATLOOP_WEB_TOKEN or [web] token_file, or listen on 127.0.0.1")

// CheckListen refuses a listen address that other machines can reach when
// there is no token.
func CheckListen(addr, token string) error {
	if token != "" || IsLoopback(addr) {
		return nil
	}
	return fmt.Errorf("[web] listen %q: %w", addr, ErrNeedToken)
}

// IsLoopback reports whether addr (host:port) can be reached only from this
// machine: localhost or a loopback IP. An empty host means every
// interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Limits of the server.
const (
	maxHeaderBytes = 16 << 10
	maxFormBytes   = 16 << 10
	maxConcurrent  = 32
	// maxConnections caps the connections served at once (idle ones and
	// those still sending headers included); more wait in the kernel's
	// backlog.
	maxConnections    = 128
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	// writeTimeout bounds a response, exports included.
	writeTimeout = 10 * time.Minute
	idleTimeout  = 2 * time.Minute
)

// Serve runs h on addr until ctx is done, with bounded headers, bodies,
// timeouts and concurrent requests; then it shuts down, giving requests
// in flight five seconds. ready, when not nil, is called with the address
// listened on.
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	ln = netutil.LimitListener(ln, maxConnections)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	if ready != nil {
		ready(ln.Addr())
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("dashboard: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-done
	return nil
}

// limitConcurrency answers 503 beyond n requests at once.
func limitConcurrency(n int, h http.Handler) http.Handler {
	sem := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
			h.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many requests at once", http.StatusServiceUnavailable)
		}
	})
}
