package web

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// chromium finds a Chromium or Chrome binary.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// artefactDir is where the browser test leaves its screenshots: the
// directory in CHATLOOP_TEST_ARTEFACTS (CI keeps it), else a temporary one.
func artefactDir(t *testing.T) string {
	if d := os.Getenv("CHATLOOP_TEST_ARTEFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestBrowser drives a real headless Chromium through the dashboard: it
// logs in with the token, sees the approval table, the chart and an
// answer with its votes, downloads an export, and checks that at phone
// width nothing overflows sideways. Screenshots are saved as artefacts.
func TestBrowser(t *testing.T) {
	exe := chromium()
	if exe == "" {
		t.Skip("no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)")
	}
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	store := testStore(t)
	s, err := New(Options{Store: store, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()

	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("TMPDIR="+t.TempDir()), // Chrome's singleton socket goes there, removed with it
		chromedp.WindowSize(1280, 900),
	)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	art := artefactDir(t)
	shot := func(name string) {
		t.Helper()
		// Quality 100 gives a PNG; less gives a JPEG.
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(art, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	eval := func(js string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return n
	}

	// Log in: the dashboard sends the browser to /login first.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible("#token"),
	); err != nil {
		t.Fatal(err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/login") {
		t.Fatalf("before login the browser is at %s, want /login", loc)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys("#token", testToken),
		chromedp.Click("#login"),
		chromedp.WaitVisible("#approval"),
	); err != nil {
		t.Fatal(err)
	}

	// The approval table and the chart.
	table := text("#approval")
	for _, want := range []string{"qwen2.5-0.5b-instruct Q8_0 @3f2a9c0d11e4", "75.0%", "30.1%", "95.4%"} {
		if !strings.Contains(table, want) {
			t.Errorf("approval table lacks %q:\n%s", want, table)
		}
	}
	if n := eval(`document.querySelectorAll("#votes-chart rect").length`); n != 2 {
		t.Errorf("chart has %d bars, want 2 (one a day)", n)
	}
	if w := eval(`Math.round(document.querySelector("#votes-chart").getBoundingClientRect().width)`); w < 300 {
		t.Errorf("chart is %d px wide", w)
	}
	shot("dashboard-overview.png")

	// An answer with its votes, then its page with its sibling.
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/answers?q=paris"), chromedp.WaitVisible("#answer-list")); err != nil {
		t.Fatal(err)
	}
	if list := text("#answer-list"); !strings.Contains(list, "Paris <b>is</b> the capital.") || !strings.Contains(list, "👍 2 👎 0") {
		t.Errorf("answer list:\n%s", list)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`#answer-list a[href="/answers/01A"]`), chromedp.WaitVisible("#a-01B")); err != nil {
		t.Fatal(err)
	}
	if sib := text("#a-01B"); !strings.Contains(sib, "Lyon") || !strings.Contains(sib, "👍 0 👎 1") {
		t.Errorf("sibling card:\n%s", sib)
	}
	shot("dashboard-answer.png")

	// Download an export through the form.
	dl := t.TempDir()
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/export"),
		chromedp.WaitVisible("#export-form"),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			yes := true
			_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dl, EventsEnabled: &yes,
			})
			return err
		}),
		chromedp.SetValue("#format", "preference"),
		chromedp.Click("#download"),
	); err != nil {
		t.Fatal(err)
	}
	var file string
	for ev, err := range progress {
		if err != nil {
			t.Fatal(err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("download cancelled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			file = filepath.Join(dl, ev.GUID)
			break
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), `"chosen":[{"role":"assistant","content":"Paris <b>is</b> the capital."}]`) || strings.Count(string(got), "\n") != 1 {
		t.Errorf("downloaded export:\n%s", got)
	}

	// Phone width: the page fits, the navigation and the table stay
	// reachable.
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible("#approval"),
	); err != nil {
		t.Fatal(err)
	}
	if over := eval(`document.documentElement.scrollWidth - window.innerWidth`); over > 0 {
		t.Errorf("at 390 px the page is %d px too wide", over)
	}
	if n := eval(`[...document.querySelectorAll("nav a")].filter(a => { const r = a.getBoundingClientRect(); return r.width > 0 && r.right <= window.innerWidth }).length`); n != 4 {
		t.Errorf("at 390 px %d of 4 navigation links are on screen", n)
	}
	if w := eval(`Math.round(document.querySelector("#votes-chart").getBoundingClientRect().width)`); w > 390 || w < 300 {
		t.Errorf("at 390 px the chart is %d px wide", w)
	}
	shot("dashboard-phone.png")
}
