package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Server is the dashboard's handler.
type Server struct {
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	auth  *auth
	pages map[string]*template.Template
	h     http.Handler
}

// New builds the dashboard. It needs a Store.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("dashboard: no store")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, auth: newAuth(opts.Token, opts.Now), pages: map[string]*template.Template{}}
	for _, name := range []string{"login", "overview", "answers", "answer", "adapters", "export", "error"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard template %s: %w", name, err)
		}
		s.pages[name] = t
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.overview)
	mux.HandleFunc("GET /answers", s.answers)
	mux.HandleFunc("GET /answers/{id}", s.answer)
	mux.HandleFunc("GET /adapters", s.adapters)
	mux.HandleFunc("GET /adapters/{name}/qr.png", s.adapterQR)
	mux.HandleFunc("GET /export", s.exportForm)
	mux.HandleFunc("GET /export/download", s.exportDownload)
	mux.HandleFunc("GET /api/stats", s.apiStats)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /login", s.login)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	// State-changing requests (log in, log out) from another origin are
	// refused (Sec-Fetch-Site / Origin), and the session cookie is
	// SameSite=Strict besides.
	csrf := http.NewCrossOriginProtection()
	s.h = limitConcurrency(maxConcurrent, headers(csrf.Handler(s.guard(mux))))
	return s, nil
}

// ServeHTTP serves the dashboard.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

// headers sets the security headers of every response: nothing is loaded
// from elsewhere, and the pages are not framed.
func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// page is what every template gets.
type page struct {
	Title  string
	Active string
	Auth   bool // show the log-out button
	Error  string
	Data   any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Auth = s.auth.on && name != "login"
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("dashboard: rendering", "page", name, "err", err)
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status >= 500 {
		s.log.Error("dashboard", "path", r.URL.Path, "err", err)
	}
	s.render(w, r, status, "error", page{Title: http.StatusText(status), Error: err.Error()})
}

// overviewData is the overview page.
type overviewData struct {
	Stats feedback.Stats
	Chart chart
	Runs  []Run
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	st, err := s.opts.Store.Stats(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	d := overviewData{Stats: st, Chart: votesChart(st.VotesByDay, chartDays)}
	if s.opts.Runs != nil {
		d.Runs = s.opts.Runs()
	}
	s.render(w, r, http.StatusOK, "overview", page{Title: "Overview", Active: "overview", Data: d})
}

// answersData is the answers page.
type answersData struct {
	Filter  answerQuery
	Answers []feedback.AnswerView
	Next    string // query of the next page, "" when none
}

// answerQuery is the answers page's query string.
type answerQuery struct {
	Platform, Chat, Vote, Version, Since, Until, Q, Before string
}

func (q answerQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"platform": q.Platform, "chat": q.Chat, "vote": q.Vote, "version": q.Version, "since": q.Since, "until": q.Until, "q": q.Q, "before": q.Before} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

const pageSize = 50

func (s *Server) answers(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	q := answerQuery{
		Platform: qv.Get("platform"), Chat: qv.Get("chat"), Vote: qv.Get("vote"),
		Version: qv.Get("version"), Since: qv.Get("since"), Until: qv.Get("until"),
		Q: qv.Get("q"), Before: qv.Get("before"),
	}
	f := feedback.AnswerFilter{Platform: q.Platform, Chat: q.Chat, Vote: q.Vote, Version: q.Version, Text: q.Q, Before: q.Before, Limit: pageSize}
	var err error
	if f.Since, err = parseDay(q.Since, false); err == nil {
		f.Until, err = parseDay(q.Until, true)
	}
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	list, more, err := s.opts.Store.Answers(r.Context(), f)
	if errors.Is(err, feedback.ErrInvalid) {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	d := answersData{Filter: q, Answers: list}
	if more {
		next := q
		next.Before = string(list[len(list)-1].ID)
		d.Next = next.values().Encode()
	}
	s.render(w, r, http.StatusOK, "answers", page{Title: "Answers", Active: "answers", Data: d})
}

// parseDay reads a date (2026-03-01, the whole day) or an RFC 3339 time;
// end moves a date to the start of the next day, for an exclusive bound.
func parseDay(v string, end bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want a date (2026-03-01) or an RFC 3339 time", v)
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// answerData is one answer's page.
type answerData struct {
	Answer   feedback.AnswerView
	Siblings []feedback.AnswerView
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request) {
	a, sib, err := s.opts.Store.AnswerWithSiblings(r.Context(), bot.AnswerID(r.PathValue("id")))
	if errors.Is(err, bot.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("no answer %q", r.PathValue("id")))
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	s.render(w, r, http.StatusOK, "answer", page{Title: "Answer " + string(a.ID), Active: "answers", Data: answerData{Answer: a, Siblings: sib}})
}

func (s *Server) adapters(w http.ResponseWriter, r *http.Request) {
	var states []AdapterState
	if s.opts.Adapters != nil {
		states = s.opts.Adapters()
	}
	s.render(w, r, http.StatusOK, "adapters", page{Title: "Adapters", Active: "adapters", Data: states})
}

// adapterQR serves the login QR code an adapter is waiting to have
// scanned, read from the PNG file the adapter writes (and removes once
// the login is confirmed).
func (s *Server) adapterQR(w http.ResponseWriter, r *http.Request) {
	if s.opts.Adapters == nil {
		http.NotFound(w, r)
		return
	}
	for _, a := range s.opts.Adapters() {
		if a.Name != r.PathValue("name") || a.QRFile == "" {
			continue
		}
		png, err := readSmallFile(a.QRFile, 1<<20)
		if err != nil {
			http.Error(w, "no QR code is waiting to be scanned", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(png)
		return
	}
	http.NotFound(w, r)
}

// readSmallFile reads a file of at most limit bytes.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is over %d bytes", path, limit)
	}
	return b, nil
}

// exportData is the export page.
type exportData struct {
	Formats []string
}

func (s *Server) exportForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "export", page{Title: "Export", Active: "export", Data: exportData{Formats: feedback.Formats}})
}

// exportOptions reads the export form: the CLI's filters under the CLI's
// flag names.
func exportOptions(v url.Values) (feedback.ExportOptions, error) {
	o := feedback.ExportOptions{Format: v.Get("format"), Platform: v.Get("platform")}
	var err error
	if o.Since, err = parseDay(v.Get("since"), false); err != nil {
		return o, fmt.Errorf("since: %w", err)
	}
	if o.Until, err = parseDay(v.Get("until"), true); err != nil {
		return o, fmt.Errorf("until: %w", err)
	}
	for _, f := range []struct {
		name string
		to   *int
		def  int
	}{{"min-votes", &o.MinVotes, 0}, {"min-score", &o.MinScore, 1}, {"max-pairs-per-user", &o.MaxPairsPerUser, 0}} {
		*f.to = f.def
		if s := v.Get(f.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < -1000000 || n > 1000000 {
				return o, fmt.Errorf("%s %q: want a whole number", f.name, s)
			}
			*f.to = n
		}
	}
	if o.MinVotes < 0 || o.MaxPairsPerUser < 0 {
		return o, fmt.Errorf("min-votes %d, max-pairs-per-user %d: want 0 or more", o.MinVotes, o.MaxPairsPerUser)
	}
	return o, nil
}

func (s *Server) exportDownload(w http.ResponseWriter, r *http.Request) {
	o, err := exportOptions(r.URL.Query())
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	// Write to a buffer first so that a bad option is a clear error page,
	// not a broken download. Exports of a bot's database are megabytes.
	// Personal data is scrubbed unless no-scrub=1, as in the CLI.
	var buf bytes.Buffer
	var n int
	scrubbed := "off"
	if r.URL.Query().Get("no-scrub") == "1" {
		n, err = s.opts.Store.Export(r.Context(), &buf, o)
	} else {
		sw := feedback.NewScrubWriter(&buf, o.Format)
		if n, err = s.opts.Store.Export(r.Context(), sw, o); err == nil {
			err = sw.Close()
		}
		scrubbed = sw.Summary()
	}
	if errors.Is(err, feedback.ErrInvalid) {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	name := fmt.Sprintf("chatloop-%s-%s.jsonl", o.Format, s.now().UTC().Format("20060102-150405"))
	w.Header().Set("Content-Type", "application/jsonl; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("X-Chatloop-Rows", strconv.Itoa(n))
	w.Header().Set("X-Chatloop-Scrubbed", scrubbed)
	w.Write(buf.Bytes())
}

// apiStats serves what `chatloop feedback stats --json` prints.
func (s *Server) apiStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.opts.Store.Stats(r.Context())
	if err != nil {
		s.log.Error("dashboard: stats", "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(st)
}

var funcs = template.FuncMap{
	"pct": func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"short": func(s string, n int) string {
		s = strings.Join(strings.Fields(s), " ")
		if r := []rune(s); len(r) > n {
			return string(r[:n]) + "…"
		}
		return s
	},
	"lastUser": func(ts []bot.Turn) string {
		for i := len(ts) - 1; i >= 0; i-- {
			if ts[i].Role == bot.RoleUser {
				return ts[i].Content
			}
		}
		return ""
	},
	"ms": func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) },
	"score": func(f *float64) string {
		if f == nil {
			return "-"
		}
		return fmt.Sprintf("%.3f", *f)
	},
	"query": func(k, v string) template.URL { return template.URL(url.Values{k: {v}}.Encode()) },
	"voteName": func(v int) string {
		switch v {
		case 1:
			return "👍"
		case -1:
			return "👎"
		}
		return "·"
	},
	"hashShort": func(s string) string { return s[:min(10, len(s))] },
	"mul100":    func(f float64) float64 { return 100 * f },
	"sub":       func(a, b float64) float64 { return a - b },
}
