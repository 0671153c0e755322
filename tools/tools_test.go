package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// fakeDNS resolves the test's names; anything else is not found.
type fakeDNS map[string][]netip.Addr

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// publicLoopback is the address the tests let stand for a public site:
// every other address is judged as fetch_url judges it.
var publicLoopback = netip.MustParseAddr("127.0.0.2")

func testPrivate(a netip.Addr) bool { return a != publicLoopback && privateAddr(a) }

// serveOn starts an HTTP server on ip (any port) and returns its base URL.
func serveOn(t *testing.T, ip string, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func builtin(t *testing.T, cfg BuiltinConfig) *Set {
	t.Helper()
	var s Set
	for _, tool := range Builtins(cfg) {
		if err := s.Add(tool); err != nil {
			t.Fatal(err)
		}
	}
	return &s
}

func call(t *testing.T, s *Set, name string, args any) (Result, error) {
	t.Helper()
	b, _ := json.Marshal(args)
	return s.Call(context.Background(), name, b)
}

const article = `<!doctype html><html><head><title>Rivers of China</title>
<script>var secret = "do not show";</script><style>p{color:red}</style></head>
<body><nav>Home | About | Login</nav><article><h1>Rivers of China</h1>
<p>The Yangtze is the longest river in Asia and the third longest in the world, flowing for 6,300 kilometres from the Tibetan Plateau to the East China Sea at Shanghai.</p>
<p>The Yellow River is the second longest river in China. It is called the cradle of Chinese civilisation, because its basin was the birthplace of ancient Chinese civilisation.</p>
<p>The Pearl River is the third longest, flowing through Guangdong into the South China Sea between Hong Kong and Macau.</p>
</article><footer>Copyright nobody</footer></body></html>`

func TestFetchURLReadableText(t *testing.T) {
	page := serveOn(t, publicLoopback.String(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rivers":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, article)
		case "/moved":
			http.Redirect(w, r, "/rivers", http.StatusFound)
		case "/plain":
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, "line one\n\n\n\nline two")
		case "/image":
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte("\x89PNG\r\n\x1a\n"))
		case "/huge":
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(strings.Repeat("x", 5000)))
		case "/missing":
			http.NotFound(w, r)
		}
	}))
	port := strings.TrimPrefix(page, "http://"+publicLoopback.String())
	dns := fakeDNS{"news.test": {publicLoopback}}
	s := builtin(t, BuiltinConfig{Resolver: dns, private: testPrivate, MaxPageBytes: 4096, MaxTextChars: 300})

	res, err := call(t, s, "fetch_url", map[string]string{"url": "http://news.test" + port + "/moved"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Text, "The Yangtze is the longest river in Asia") {
		t.Errorf("text lacks the article:\n%s", res.Text)
	}
	for _, junk := range []string{"do not show", "color:red", "<p>"} {
		if strings.Contains(res.Text, junk) {
			t.Errorf("text keeps %q:\n%s", junk, res.Text)
		}
	}
	if !strings.HasSuffix(res.Text, "…[truncated]") {
		t.Errorf("a text over MaxTextChars is not marked as cut:\n%s", res.Text)
	}
	if len(res.Sources) != 1 || res.Sources[0].URL != "http://news.test"+port+"/rivers" || res.Sources[0].Title != "Rivers of China" {
		t.Errorf("sources %+v: want the page after the redirect, with its title", res.Sources)
	}

	res, err = call(t, s, "fetch_url", map[string]string{"url": "http://news.test" + port + "/plain"})
	if err != nil || !strings.HasSuffix(res.Text, "line one\n\nline two") {
		t.Errorf("plain text: %q, %v", res.Text, err)
	}
	for path, want := range map[string]string{"/image": "not a text page", "/huge": "too large", "/missing": "404"} {
		if _, err := call(t, s, "fetch_url", map[string]string{"url": "http://news.test" + port + path}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", path, err, want)
		}
	}
}

// TestFetchURLRefusesPrivateAddresses: loopback, private, link-local
// (the cloud metadata address) and IPv6 loopback, whether named directly,
// through a DNS name, or by a redirect from a public page.
func TestFetchURLRefusesPrivateAddresses(t *testing.T) {
	hits := make(chan string, 16)
	inside := serveOn(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- r.URL.Path
		fmt.Fprint(w, "internal admin page")
	}))
	public := serveOn(t, publicLoopback.String(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inside+"/via-redirect", http.StatusFound)
	}))
	insidePort := strings.TrimPrefix(inside, "http://127.0.0.1")
	dns := fakeDNS{
		"rebind.test":   {netip.MustParseAddr("127.0.0.1")},
		"metadata.test": {netip.MustParseAddr("169.254.169.254")},
		"mixed.test":    {publicLoopback, netip.MustParseAddr("10.0.0.7")},
		"v6.test":       {netip.MustParseAddr("::1")},
	}
	s := builtin(t, BuiltinConfig{Resolver: dns, private: testPrivate, Timeout: 3 * time.Second})
	for _, u := range []string{
		inside + "/direct",
		"http://10.0.0.1/",
		"http://10.255.1.2:8080/x",
		"http://169.254.169.254/latest/meta-data/",
		"http://[::1]" + insidePort + "/",
		"http://[::ffff:127.0.0.1]" + insidePort + "/",
		"http://rebind.test" + insidePort + "/dns",
		"http://metadata.test/",
		"http://mixed.test" + insidePort + "/",
		"http://v6.test" + insidePort + "/",
		public + "/go",
	} {
		_, err := call(t, s, "fetch_url", map[string]string{"url": u})
		if !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want ErrRefused", u, err)
		}
	}
	for _, u := range []string{"file:///etc/passwd", "ftp://example.com/", "http://user:pw@example.com/"} {
		if _, err := call(t, s, "fetch_url", map[string]string{"url": u}); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want ErrRefused", u, err)
		}
	}
	select {
	case p := <-hits:
		t.Errorf("the private server was reached (%s)", p)
	default:
	}

	// allow_private lets the operator's own pages through.
	open := builtin(t, BuiltinConfig{Resolver: dns, AllowPrivate: true})
	if res, err := call(t, open, "fetch_url", map[string]string{"url": "http://rebind.test" + insidePort + "/ok"}); err != nil || !strings.Contains(res.Text, "internal admin page") {
		t.Errorf("with allow_private: %q, %v", res.Text, err)
	}
}

func TestPrivateAddr(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		private bool
	}{
		{"127.0.0.1", true}, {"127.8.9.10", true}, {"10.1.2.3", true}, {"172.16.0.1", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"100.64.0.1", true}, {"0.0.0.0", true}, {"224.0.0.1", true}, {"255.255.255.255", true},
		{"::1", true}, {"::", true}, {"fe80::1", true}, {"fc00::1", true}, {"::ffff:10.0.0.1", true},
		{"64:ff9b::a00:1", true}, {"2002:a00:1::", true},
		{"8.8.8.8", false}, {"1.1.1.1", false}, {"2606:4700:4700::1111", false}, {"::ffff:8.8.8.8", false}, {"64:ff9b::808:808", false},
	} {
		if got := privateAddr(netip.MustParseAddr(tc.addr)); got != tc.private {
			t.Errorf("privateAddr(%s) = %v, want %v", tc.addr, got, tc.private)
		}
	}
}

func TestWebSearchSearXNG(t *testing.T) {
	var gotQuery, gotFormat string
	searx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotQuery, gotFormat = r.URL.Query().Get("q"), r.URL.Query().Get("format")
		if gotQuery == "forbidden" {
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"query":"x","number_of_results":3,"results":[
			{"title":"Yangtze - Wikipedia","url":"https://en.wikipedia.org/wiki/Yangtze","content":"The Yangtze is the longest river in Eurasia.","engine":"wikipedia"},
			{"title":"no url","url":"","content":"skipped"},
			{"title":"  Yangtze\n facts ","url":"https://example.com/yangtze","content":"Six thousand\nkilometres."},
			{"title":"third","url":"https://example.org/3","content":"c"}]}`)
	}))
	defer searx.Close()
	s := builtin(t, BuiltinConfig{SearchURL: searx.URL + "/search", SearchResults: 2})
	res, err := call(t, s, "web_search", map[string]string{"query": "longest river in China"})
	if err != nil {
		t.Fatal(err)
	}
	if gotQuery != "longest river in China" || gotFormat != "json" {
		t.Errorf("asked q=%q format=%q", gotQuery, gotFormat)
	}
	want := "[1] Yangtze - Wikipedia\nhttps://en.wikipedia.org/wiki/Yangtze\nThe Yangtze is the longest river in Eurasia.\n\n[2] Yangtze facts\nhttps://example.com/yangtze\nSix thousand kilometres."
	if res.Text != want {
		t.Errorf("text:\n%s\nwant:\n%s", res.Text, want)
	}
	if len(res.Sources) != 2 || res.Sources[1].URL != "https://example.com/yangtze" {
		t.Errorf("sources %+v", res.Sources)
	}
	if _, err := call(t, s, "web_search", map[string]string{"query": "forbidden"}); err == nil || !strings.Contains(err.Error(), "search.formats") {
		t.Errorf("403: %v, want the hint about SearXNG's json format", err)
	}
	if _, err := call(t, s, "web_search", map[string]string{"query": " "}); !errors.Is(err, ErrBadArguments) {
		t.Errorf("empty query: %v", err)
	}
	if tools := builtin(t, BuiltinConfig{}).Tools(nil); len(tools) != 2 || tools[0].Name != "current_time" || tools[1].Name != "fetch_url" {
		t.Errorf("without a search URL: %v, want current_time and fetch_url only", tools)
	}
}

func TestCurrentTime(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	now := time.Date(2026, 12, 7, 3, 4, 5, 0, time.UTC)
	s := builtin(t, BuiltinConfig{Location: shanghai, Now: func() time.Time { return now }})
	res, err := call(t, s, "current_time", map[string]string{})
	if err != nil || res.Text != "2026-12-07T11:04:05+08:00 (Monday, Asia/Shanghai)" {
		t.Errorf("chat's zone: %q, %v", res.Text, err)
	}
	res, err = call(t, s, "current_time", map[string]string{"timezone": "America/New_York"})
	if err != nil || res.Text != "2026-12-06T22:04:05-05:00 (Sunday, America/New_York)" {
		t.Errorf("named zone: %q, %v", res.Text, err)
	}
	if _, err := call(t, s, "current_time", map[string]string{"timezone": "Mars/Olympus"}); !errors.Is(err, ErrBadArguments) {
		t.Errorf("unknown zone: %v", err)
	}
}

func TestSetCallArguments(t *testing.T) {
	s := builtin(t, BuiltinConfig{Now: func() time.Time { return time.Unix(0, 0) }})
	for _, tc := range []struct {
		name, args string
		err        error
	}{
		{"current_time", ``, nil},
		{"current_time", `null`, nil},
		{"current_time", `"{\"timezone\":\"UTC\"}"`, nil}, // double-encoded, as some models send
		{"current_time", `[1,2]`, ErrBadArguments},
		{"current_time", `{"timezone":`, ErrBadArguments},
		{"current_time", `{"zone":"UTC"}`, ErrBadArguments}, // unknown field
		{"rm_rf", `{}`, ErrUnknownTool},
	} {
		_, err := s.Call(context.Background(), tc.name, json.RawMessage(tc.args))
		if !errors.Is(err, tc.err) && !(tc.err == nil && err == nil) {
			t.Errorf("%s(%s): %v, want %v", tc.name, tc.args, err, tc.err)
		}
	}
	if err := s.Add(Tool{Name: "bad name!", Run: func(context.Context, json.RawMessage) (Result, error) { return Result{}, nil }}); err == nil {
		t.Error("a tool name with spaces was accepted")
	}
	s.Remove("fetch_url")
	if got := s.Tools(nil); len(got) != 1 {
		t.Errorf("after Remove: %v", got)
	}
	if got := s.Tools(func(t Tool) bool { return !t.AdminOnly && t.Name != "current_time" }); len(got) != 0 {
		t.Errorf("filtered: %v", got)
	}
}

func FuzzObjectArgs(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"a":1}`, `"{}"`, `[`, `"x"`, `null`, `{"q":"\u0000"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := objectArgs(json.RawMessage(s))
		if err != nil {
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(out, &obj) != nil {
			t.Fatalf("objectArgs(%q) = %q, not an object", s, out)
		}
	})
}
