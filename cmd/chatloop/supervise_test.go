package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/adapters/platform"
)

// TestRunExitsWhenEveryAdapterStopped is issue 15's item 1: with a Discord
// token the server refuses and the WeCom port taken by another program,
// every enabled adapter stops for good, so `chatloop run` must exit with a
// non-zero code that names both, for a service manager to notice.
func TestRunExitsWhenEveryAdapterStopped(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message": "401: Unauthorized", "code": 0}`))
	}))
	defer refusing.Close()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	dir := t.TempDir()
	cfg := "[web]\nlisten = \"\"\n[discord]\nenabled = true\napi_url = \"" + refusing.URL + "/\"\n" +
		"[wecom]\nenabled = true\nlisten = \"" + busy.Addr().String() + "\"\ncorp_id = \"ww0123456789\"\nagent_id = 1000002\n"
	if err := os.WriteFile(filepath.Join(dir, "chatloop.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := exec.Command(exe, "run", "--backend", "demo")
	run.Dir = dir
	run.Env = append(os.Environ(), "GO_WANT_CHATLOOP_MAIN=1", "DISCORD_TOKEN=wrong-token",
		"WECOM_SECRET=s", "WECOM_TOKEN=t", "WECOM_AES_KEY=jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C")
	var logs bytes.Buffer
	run.Stdout, run.Stderr = &logs, &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	select {
	case err := <-exited:
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() == 0 {
			t.Fatalf("run ended with %v, want a non-zero exit code; output:\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		_ = run.Process.Kill()
		<-exited
		t.Fatalf("run still running 30 s after every adapter stopped; output:\n%s", logs.String())
	}
	last := logs.String()
	if i := strings.LastIndex(strings.TrimSpace(last), "\n"); i >= 0 {
		last = last[i+1:]
	}
	for _, want := range []string{"discord", "refused the bot token", "wecom", "listening on"} {
		if !strings.Contains(last, want) {
			t.Errorf("the last line lacks %q: %q\nwhole output:\n%s", want, last, logs.String())
		}
	}
	if strings.Contains(logs.String(), "wrong-token") {
		t.Error("the token was printed")
	}
}

// TestSupervisorRestarts: an adapter error that is not permanent is
// retried; a permanent one, or one that keeps coming back, stops the
// adapter for good, and when every adapter has, allDown says so.
func TestSupervisorRestarts(t *testing.T) {
	sup := newSupervisor(slog.New(slog.DiscardHandler), 3)
	var pauses []time.Duration
	var mu sync.Mutex
	sup.sleep = func(ctx context.Context, d time.Duration) bool {
		mu.Lock()
		pauses = append(pauses, d)
		mu.Unlock()
		return ctx.Err() == nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Fails twice, then runs until the end.
	flaky := 0
	recovered := make(chan struct{})
	go sup.run(ctx, "flaky", func(ctx context.Context) error {
		if flaky++; flaky <= 2 {
			return errors.New("connection reset")
		}
		close(recovered)
		<-ctx.Done()
		return ctx.Err()
	})
	<-recovered
	mu.Lock()
	if want := []time.Duration{restartFirst, 2 * restartFirst}; !slices.Equal(pauses, want) {
		t.Errorf("pauses before restarts %v, want %v", pauses, want)
	}
	mu.Unlock()

	permanentRuns, brokenRuns := 0, 0
	done := make(chan struct{}, 2)
	go func() {
		sup.run(ctx, "discord", func(context.Context) error {
			permanentRuns++
			return fmt.Errorf("discord: %w", platform.Permanent(errors.New("token refused")))
		})
		done <- struct{}{}
	}()
	go func() {
		sup.run(ctx, "wecom", func(context.Context) error { brokenRuns++; return errors.New("disk full") })
		done <- struct{}{}
	}()
	<-done
	<-done
	if permanentRuns != 1 || brokenRuns != maxRestarts+1 {
		t.Errorf("a permanent error ran %d times (want 1), a recurring one %d (want %d)", permanentRuns, brokenRuns, maxRestarts+1)
	}
	select {
	case <-sup.allDown:
		t.Fatal("allDown while the flaky adapter still runs")
	default:
	}
	// The last one stops for good too.
	sup2 := newSupervisor(slog.New(slog.DiscardHandler), 1)
	sup2.run(ctx, "discord", func(context.Context) error { return platform.Permanent(errors.New("discord: token refused")) })
	select {
	case <-sup2.allDown:
	default:
		t.Fatal("allDown not closed after the only adapter stopped for good")
	}
	if got := sup2.err().Error(); got != "every adapter stopped: discord: token refused" {
		t.Errorf("error %q: the adapter's name is doubled or missing", got)
	}
}
