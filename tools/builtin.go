package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	readability "codeberg.org/readeck/go-readability/v2"
)

// BuiltinConfig configures the built-in tools.
type BuiltinConfig struct {
	// SearchURL is a SearXNG instance's search endpoint, e.g.
	// http://localhost:8888/search; empty leaves web_search out. It is
	// the operator's own, so a loopback or private address is fine here.
	SearchURL string
	// SearchResults is how many results web_search returns (default 5).
	SearchResults int
	// AllowPrivate lets fetch_url reach loopback, private and link-local
	// addresses.
	AllowPrivate bool
	// MaxPageBytes caps a fetched page (default 2 MiB); MaxTextChars the
	// text fetch_url returns (default 12,000 characters).
	MaxPageBytes int64
	MaxTextChars int
	// Timeout bounds one call (default 15 s).
	Timeout time.Duration
	// Location is current_time's default time zone (default UTC).
	Location *time.Location
	// Resolver resolves fetch_url's host names (default the system's).
	Resolver Resolver
	// HTTPClient makes web_search's requests (default one honouring
	// HTTP_PROXY and the system's CA bundle).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// UserAgent names chatloop to the sites it fetches.
	UserAgent string

	// private tells fetch_url's guard which addresses to refuse (default
	// privateAddr); tests let one loopback address stand for the internet.
	private func(netip.Addr) bool
}

func (c *BuiltinConfig) defaults() {
	if c.SearchResults <= 0 {
		c.SearchResults = 5
	}
	if c.MaxPageBytes <= 0 {
		c.MaxPageBytes = 2 << 20
	}
	if c.MaxTextChars <= 0 {
		c.MaxTextChars = 12000
	}
	if c.Timeout <= 0 {
		c.Timeout = 15 * time.Second
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.UserAgent == "" {
		c.UserAgent = "chatloop (+https://github.com/chatloop/chatloop)"
	}
	if c.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = http.ProxyFromEnvironment
		c.HTTPClient = &http.Client{Transport: tr, Timeout: c.Timeout}
	}
}

// Builtins returns the built-in tools: web_search (when a search URL is
// set), fetch_url and current_time.
func Builtins(cfg BuiltinConfig) []Tool {
	cfg.defaults()
	var out []Tool
	if cfg.SearchURL != "" {
		out = append(out, webSearch(cfg))
	}
	return append(out, fetchURL(cfg), currentTime(cfg))
}

func webSearch(cfg BuiltinConfig) Tool {
	return Tool{
		Name:        "web_search",
		Description: "Search the web. Returns numbered results with title, URL and a snippet; cite them as [1], [2].",
		Parameters:  json.RawMessage(`{"type":"object","properties":{"query":{"type":"string","description":"what to search for"}},"required":["query"]}`),
		Run: func(ctx context.Context, args json.RawMessage) (Result, error) {
			var a struct {
				Query string `json:"query"`
			}
			if err := decodeArgs(args, &a); err != nil {
				return Result{}, err
			}
			a.Query = strings.TrimSpace(a.Query)
			if a.Query == "" || len(a.Query) > 500 {
				return Result{}, fmt.Errorf("%w: query must be 1 to 500 bytes", ErrBadArguments)
			}
			return search(ctx, cfg, a.Query)
		},
	}
}

// searxResponse is the part of SearXNG's JSON answer web_search reads.
type searxResponse struct {
	Results []struct {
		Title   string `json:"title"`
		URL     string `json:"url"`
		Content string `json:"content"`
	} `json:"results"`
}

func search(ctx context.Context, cfg BuiltinConfig, query string) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	u, err := url.Parse(cfg.SearchURL)
	if err != nil {
		return Result{}, fmt.Errorf("search_url: %w", err)
	}
	q := u.Query()
	q.Set("q", query)
	q.Set("format", "json")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Result{}, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", cfg.UserAgent)
	resp, err := cfg.HTTPClient.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("search: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return Result{}, fmt.Errorf("search: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		hint := ""
		if resp.StatusCode == http.StatusForbidden {
			hint = " (is the json format enabled in SearXNG's settings.yml, search.formats?)"
		}
		return Result{}, fmt.Errorf("search: the search engine answered %d%s", resp.StatusCode, hint)
	}
	var sr searxResponse
	if err := json.Unmarshal(body, &sr); err != nil {
		return Result{}, fmt.Errorf("search: the answer is not SearXNG's JSON: %v", err)
	}
	var b strings.Builder
	var res Result
	for _, r := range sr.Results {
		if len(res.Sources) == cfg.SearchResults {
			break
		}
		if r.URL == "" {
			continue
		}
		res.Sources = append(res.Sources, Source{Title: oneLine(r.Title, 200), URL: r.URL})
		fmt.Fprintf(&b, "[%d] %s\n%s\n%s\n\n", len(res.Sources), oneLine(r.Title, 200), r.URL, oneLine(r.Content, 600))
	}
	if len(res.Sources) == 0 {
		res.Text = "No results for " + query + "."
		return res, nil
	}
	res.Text = strings.TrimSpace(b.String())
	return res, nil
}

func fetchURL(cfg BuiltinConfig) Tool {
	client := guardedClient(cfg.Resolver, cfg.AllowPrivate, cfg.private, cfg.Timeout, 5)
	return Tool{
		Name:        "fetch_url",
		Description: "Fetch a web page (http or https) and return its readable text.",
		Parameters:  json.RawMessage(`{"type":"object","properties":{"url":{"type":"string","description":"the page's http(s) URL"}},"required":["url"]}`),
		Run: func(ctx context.Context, args json.RawMessage) (Result, error) {
			var a struct {
				URL string `json:"url"`
			}
			if err := decodeArgs(args, &a); err != nil {
				return Result{}, err
			}
			return fetch(ctx, cfg, client, strings.TrimSpace(a.URL))
		},
	}
}

// errTooBig marks a page over the size limit.
var errTooBig = errors.New("page too large")

func fetch(ctx context.Context, cfg BuiltinConfig, client *http.Client, raw string) (Result, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %q is not a URL", ErrBadArguments, raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Result{}, fmt.Errorf("%w: only http and https URLs are fetched, not %q", ErrRefused, u.Scheme)
	}
	if u.Host == "" {
		return Result{}, fmt.Errorf("%w: %q has no host", ErrBadArguments, raw)
	}
	if u.User != nil {
		return Result{}, fmt.Errorf("%w: URLs with credentials are not fetched", ErrRefused)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Result{}, err
	}
	req.Header.Set("User-Agent", cfg.UserAgent)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1")
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, ErrRefused) {
			return Result{}, fmt.Errorf("%w", unwrapURL(err))
		}
		return Result{}, fmt.Errorf("fetching %s: %w", u.Host, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Result{}, fmt.Errorf("fetching %s: the site answered %d", u.Host, resp.StatusCode)
	}
	if resp.ContentLength > cfg.MaxPageBytes {
		return Result{}, fmt.Errorf("%w: %d bytes, over %d", errTooBig, resp.ContentLength, cfg.MaxPageBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, cfg.MaxPageBytes+1))
	if err != nil {
		return Result{}, fmt.Errorf("fetching %s: %w", u.Host, err)
	}
	if int64(len(body)) > cfg.MaxPageBytes {
		return Result{}, fmt.Errorf("%w: over %d bytes", errTooBig, cfg.MaxPageBytes)
	}
	final := resp.Request.URL
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var title, text string
	switch {
	case mt == "text/html" || mt == "application/xhtml+xml" || mt == "" && bytes.Contains(bytes.ToLower(body[:min(len(body), 512)]), []byte("<html")):
		art, err := readability.FromReader(bytes.NewReader(body), final)
		if err != nil || art.Node == nil {
			return Result{}, fmt.Errorf("reading %s: no readable text found", final.Host)
		}
		var tb strings.Builder
		if err := art.RenderText(&tb); err != nil {
			return Result{}, fmt.Errorf("reading %s: %w", final.Host, err)
		}
		title, text = art.Title(), tb.String()
	case strings.HasPrefix(mt, "text/") || mt == "application/json":
		if !utf8.Valid(body) {
			return Result{}, fmt.Errorf("reading %s: the page is not UTF-8 text", final.Host)
		}
		text = string(body)
	default:
		return Result{}, fmt.Errorf("%w: %s is %s, not a text page", ErrRefused, final.Host, mt)
	}
	text = truncateText(collapseBlankLines(text), cfg.MaxTextChars)
	if title == "" {
		title = final.Host
	}
	src := Source{Title: oneLine(title, 200), URL: final.String()}
	return Result{Text: fmt.Sprintf("[1] %s\n%s\n\n%s", src.Title, src.URL, text), Sources: []Source{src}}, nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func currentTime(cfg BuiltinConfig) Tool {
	return Tool{
		Name:        "current_time",
		Description: "The current date and time, in the chat's time zone or a named IANA time zone.",
		Parameters:  json.RawMessage(`{"type":"object","properties":{"timezone":{"type":"string","description":"an IANA time zone such as Asia/Shanghai (default: the chat's)"}}}`),
		Run: func(ctx context.Context, args json.RawMessage) (Result, error) {
			var a struct {
				Timezone string `json:"timezone"`
			}
			if err := decodeArgs(args, &a); err != nil {
				return Result{}, err
			}
			loc := cfg.Location
			if tz := strings.TrimSpace(a.Timezone); tz != "" {
				l, err := time.LoadLocation(tz)
				if err != nil || len(tz) > 64 {
					return Result{}, fmt.Errorf("%w: unknown time zone %q", ErrBadArguments, tz)
				}
				loc = l
			}
			now := cfg.Now().In(loc)
			return Result{Text: fmt.Sprintf("%s (%s, %s)", now.Format(time.RFC3339), now.Weekday(), loc)}, nil
		},
	}
}

// oneLine squeezes s onto one line of at most n runes.
func oneLine(s string, n int) string {
	return truncateText(strings.Join(strings.Fields(s), " "), n)
}

// truncateText cuts s to at most n runes, marking the cut.
func truncateText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n])) + " …[truncated]"
}

// collapseBlankLines trims lines and keeps at most one blank line in a row.
func collapseBlankLines(s string) string {
	var b strings.Builder
	blank := 0
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return strings.TrimSpace(b.String())
}
