package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

func TestDashboardRefusesReachableAddressWithoutToken(t *testing.T) {
	t.Setenv(webTokenEnv, "")
	db := feedbackDB(t)
	_, errOut, code := feedbackCLI(t, "dashboard", "--db", db, "--listen", "0.0.0.0:0")
	if code == 0 || !strings.Contains(errOut, "CHATLOOP_WEB_TOKEN") {
		t.Errorf("exit %d, stderr %q: want a refusal naming CHATLOOP_WEB_TOKEN", code, errOut)
	}
	empty := filepath.Join(t.TempDir(), "token")
	os.WriteFile(empty, []byte("\n"), 0o600)
	cfg := filepath.Join(t.TempDir(), "chatloop.toml")
	os.WriteFile(cfg, []byte("[web]\nlisten = \"0.0.0.0:0\"\ntoken_file = \""+empty+"\"\n"), 0o600)
	var out, errb strings.Builder
	if code := execute([]string{"--config", cfg, "dashboard", "--db", db}, strings.NewReader(""), &out, &errb); code == 0 || !strings.Contains(errb.String(), "is empty") {
		t.Errorf("empty token file: exit %d, stderr %q", code, errb.String())
	}
}

func TestWebTokenIsNotAConfigKey(t *testing.T) {
	cfg, err := loadConfig(filepath.Join(t.TempDir(), "none.toml"), false, []string{webTokenEnv + "=abc", "CHATLOOP_WEB_LISTEN=0.0.0.0:9000"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Web.Listen != "0.0.0.0:9000" {
		t.Errorf("CHATLOOP_WEB_LISTEN: listen %q", cfg.Web.Listen)
	}
	t.Setenv(webTokenEnv, " tok ")
	if tok, err := webToken(cfg.Web); err != nil || tok != "tok" {
		t.Errorf("webToken = %q, %v; want tok", tok, err)
	}
}

// TestDashboardServes runs "chatloop dashboard" as a subprocess on a
// loopback port with a token and talks to it like Prometheus and a script.
func TestDashboardServes(t *testing.T) {
	db := feedbackDB(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "chatloop.toml"), nil, 0o600)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const token = "dashboard-test-token"
	cmd := exec.Command(exe, "dashboard", "--db", db, "--listen", "127.0.0.1:0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GO_WANT_CHATLOOP_MAIN=1", webTokenEnv+"="+token)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urls := make(chan string, 1)
	var logs strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logs.WriteString(line + "\n")
			if _, u, ok := strings.Cut(line, "url="); ok && strings.Contains(line, "dashboard listening") {
				urls <- strings.TrimSuffix(strings.Fields(u)[0], "/")
			}
		}
		close(urls)
	}()
	var base string
	select {
	case u, ok := <-urls:
		if !ok {
			t.Fatal("dashboard exited before listening")
		}
		base = u
	case <-time.After(20 * time.Second):
		t.Fatal("dashboard did not listen within 20s")
	}

	do := func(path string, auth bool) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, body := do("/healthz", false); code != 200 || string(body) != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, _ := do("/api/stats", false); code != http.StatusUnauthorized {
		t.Errorf("/api/stats without the token: %d, want 401", code)
	}
	code, body := do("/api/stats", true)
	var st feedback.Stats
	if err := json.Unmarshal(body, &st); code != 200 || err != nil || st.Answers != 2 || len(st.Versions) != 1 {
		t.Errorf("/api/stats: %d %v %+v", code, err, st)
	}
	code, body = do("/metrics", true)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if code != 200 || err != nil || fams["go_goroutines"] == nil || fams["chatloop_errors_total"] == nil {
		t.Errorf("/metrics: %d %v, %d families", code, err, len(fams))
	}

	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("dashboard after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("dashboard did not stop within 10s of SIGTERM")
	}
}

func TestFeedbackExportScrubsByDefault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "feedback.db")
	s, err := feedback.Open(path, feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prompt := []bot.Turn{{Role: "user", Content: "my mail is kim@example.org"}}
	for i, text := range []string{"Noted, kim@example.org.", "What mail?"} {
		a := bot.Answer{ID: bot.AnswerID(fmt.Sprintf("01A%d", i)), GroupID: "g", Platform: "discord", ChatID: "c", AskerID: "u", Prompt: prompt, Text: text, Finished: true, Sent: true,
			Model: bot.ModelInfo{Backend: "local", Name: "tiny"}}
		if err := s.RecordAnswer(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.Vote(ctx, a.ID, "discord", "v", 1-2*i); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	out, errOut, code := feedbackCLI(t, "feedback", "export", "--db", path, "--format", "openai-dpo")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := `{"input":{"messages":[{"role":"user","content":"my mail is <EMAIL_1>"}]},"preferred_output":[{"role":"assistant","content":"Noted, <EMAIL_1>."}],"non_preferred_output":[{"role":"assistant","content":"What mail?"}]}` + "\n"
	if out != want {
		t.Errorf("scrubbed openai-dpo:\n%s\nwant\n%s", out, want)
	}
	if !strings.Contains(errOut, "privacy: scrubbed 2 email") {
		t.Errorf("stderr lacks the scrub summary: %q", errOut)
	}
	out, errOut, _ = feedbackCLI(t, "feedback", "export", "--db", path, "--format", "openai-dpo", "--no-scrub")
	if !strings.Contains(out, "kim@example.org") || strings.Contains(errOut, "privacy:") {
		t.Errorf("--no-scrub: %s / %s", out, errOut)
	}
	if _, errOut, code := feedbackCLI(t, "feedback", "export", "--db", path, "--max-pairs-per-user", "-1"); code == 0 || !strings.Contains(errOut, "max-pairs-per-user") {
		t.Errorf("--max-pairs-per-user -1: exit %d %q", code, errOut)
	}
	out, _, _ = feedbackCLI(t, "feedback", "export", "--db", path, "--format", "openai-sft", "--min-score", "1")
	if !strings.HasPrefix(out, `{"messages":[{"role":"user","content":"my mail is <EMAIL_1>"},{"role":"assistant","content":"Noted, <EMAIL_1>."}]}`) {
		t.Errorf("openai-sft: %s", out)
	}
}

// TestRunServesDashboardAndMetrics starts "chatloop run" with an adapter
// whose server is unreachable (it keeps retrying) and the dashboard on a
// free loopback port, and checks /metrics and the adapters page.
func TestRunServesDashboardAndMetrics(t *testing.T) {
	dir := t.TempDir()
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	dead, web := free(), free()
	cfg := "[web]\nlisten = \"" + web + "\"\n[discord]\nenabled = true\napi_url = \"http://" + dead + "/\"\n"
	if err := os.WriteFile(filepath.Join(dir, "chatloop.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := exec.Command(exe, "run", "--backend", "demo")
	run.Dir = dir
	run.Env = append(os.Environ(), "GO_WANT_CHATLOOP_MAIN=1", "DISCORD_TOKEN=test-token-value", webTokenEnv+"=")
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	t.Cleanup(func() {
		run.Process.Kill()
		<-done
	})
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + web + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := get("/healthz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dashboard of chatloop run did not answer within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Discord cannot be reached (api_url is a closed port): the adapter
	// runs, retrying, and the page says it is disconnected and why.
	var page string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, body := get("/adapters")
		page = body
		if code == 200 && strings.Contains(body, "disconnected, retrying") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(page, "discord") || !strings.Contains(page, "disconnected, retrying</span>: discord: look up the bot user") || !strings.Contains(page, "connection refused") {
		t.Errorf("/adapters does not show Discord disconnected with the reason:\n%s", page)
	}
	code, body := get("/metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if code != 200 || err != nil {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	up := fams["chatloop_adapter_up"]
	if up == nil || len(up.Metric) != 1 || up.Metric[0].GetGauge().GetValue() != 0 || up.Metric[0].Label[0].GetValue() != "discord" {
		t.Errorf("chatloop_adapter_up: %v, want discord at 0 (running but not connected)", up)
	}
	// Families with samples before any message: the gauge, the errors
	// registered at zero and the histograms.
	for _, name := range []string{"chatloop_queue_depth", "chatloop_errors_total", "chatloop_time_to_first_token_seconds", "chatloop_generation_tokens_per_second"} {
		if fams[name] == nil {
			t.Errorf("no %s in /metrics", name)
		}
	}
	run.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("run after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("run did not stop within 20s of SIGTERM")
	}
}
