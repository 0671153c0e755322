package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// sessionCookie names the cookie a browser gets after logging in.
const sessionCookie = "chatloop_session"

// Sessions last this long, and at most maxSessions are held (the oldest
// goes first), so a flood of logins cannot grow memory.
const (
	sessionTTL  = 24 * time.Hour
	maxSessions = 256
)

// auth checks the token and keeps the sessions it opened.
type auth struct {
	token [32]byte // SHA-256 of the token; compared in constant time
	on    bool
	now   func() time.Time

	mu       sync.Mutex
	sessions map[string]time.Time // id -> expiry
	// failures slows down guessing: 10 failed logins, then one a second.
	failures *rate.Limiter
}

func newAuth(token string, now func() time.Time) *auth {
	return &auth{
		token:    sha256.Sum256([]byte(token)),
		on:       token != "",
		now:      now,
		sessions: map[string]time.Time{},
		failures: rate.NewLimiter(rate.Every(time.Second), 10),
	}
}

// tokenOK compares a presented token with ours in constant time (hashing
// both first, so that not even the length leaks).
func (a *auth) tokenOK(presented string) bool {
	h := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(h[:], a.token[:]) == 1
}

// newSession opens a session and returns its id.
func (a *auth) newSession() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b[:])
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, exp := range a.sessions {
		if now.After(exp) {
			delete(a.sessions, k)
		}
	}
	for len(a.sessions) >= maxSessions {
		oldest, first := "", time.Time{}
		for k, exp := range a.sessions {
			if oldest == "" || exp.Before(first) {
				oldest, first = k, exp
			}
		}
		delete(a.sessions, oldest)
	}
	a.sessions[id] = now.Add(sessionTTL)
	return id, nil
}

func (a *auth) endSession(id string) {
	a.mu.Lock()
	delete(a.sessions, id)
	a.mu.Unlock()
}

func (a *auth) sessionOK(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.sessions[id]
	if ok && a.now().After(exp) {
		delete(a.sessions, id)
		return false
	}
	return ok
}

// allowed reports whether r carries a valid session cookie or bearer
// token.
func (a *auth) allowed(r *http.Request) bool {
	if !a.on {
		return true
	}
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && a.tokenOK(bearer) {
		return true
	}
	c, err := r.Cookie(sessionCookie)
	return err == nil && a.sessionOK(c.Value)
}

// loopbackHost reports whether the request was addressed to a loopback
// host name: without a token the dashboard answers only those, so a web
// page elsewhere cannot reach it through DNS rebinding.
func loopbackHost(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// guard lets through requests that may see the dashboard. open paths
// need no login.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.auth.on && !loopbackHost(r) {
			http.Error(w, "this dashboard has no token and answers only on localhost", http.StatusForbidden)
			return
		}
		switch r.URL.Path {
		case "/healthz", "/login", "/static/style.css":
			h.ServeHTTP(w, r)
			return
		}
		if s.auth.allowed(r) {
			h.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/metrics" {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="chatloop"`)
		http.Error(w, "log in first, or send Authorization: Bearer TOKEN", http.StatusUnauthorized)
	})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		if !s.auth.on || s.auth.allowed(r) {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		s.render(w, r, http.StatusOK, "login", page{Title: "Log in"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if !s.auth.on {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if s.auth.failures.Tokens() < 1 {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many failed logins; wait a second", http.StatusTooManyRequests)
		return
	}
	if !s.auth.tokenOK(r.PostForm.Get("token")) {
		s.auth.failures.Allow()
		s.log.Warn("dashboard login failed", "remote", r.RemoteAddr)
		s.render(w, r, http.StatusUnauthorized, "login", page{Title: "Log in", Error: "That token is not right."})
		return
	}
	id, err := s.auth.newSession()
	if err != nil {
		http.Error(w, "could not open a session", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/", MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.auth.endSession(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
