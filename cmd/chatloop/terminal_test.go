package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// slowOpenAI streams an endless answer, one word every 20 ms, until the
// client goes away; it counts the answers it was asked for and the ones
// the client abandoned.
type slowOpenAI struct {
	*httptest.Server
	mu        sync.Mutex
	asked     int
	abandoned int
}

func newSlowOpenAI(t *testing.T) *slowOpenAI {
	f := &slowOpenAI{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		f.mu.Lock()
		f.asked++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; ; i++ {
			fmt.Fprintf(w, "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w%d \"}}]}\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				f.mu.Lock()
				f.abandoned++
				f.mu.Unlock()
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *slowOpenAI) counts() (asked, abandoned int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked, f.abandoned
}

// ptyScreen collects what the program writes to its terminal.
type ptyScreen struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (s *ptyScreen) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(b)
}

func (s *ptyScreen) waitFor(t *testing.T, from int, want string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		out := s.buf.String()
		s.mu.Unlock()
		if i := strings.Index(out[min(from, len(out)):], want); i >= 0 {
			return from + i + len(want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Fatalf("the terminal never showed %q; it shows:\n%q", want, s.buf.String()[min(from, s.buf.Len()):])
	return 0
}

// startChatOnPty runs `chatloop chat` on a pseudo-terminal, as a person
// would in a terminal window, against the slow fake server.
func startChatOnPty(t *testing.T, srv *slowOpenAI) (*exec.Cmd, *os.File, *ptyScreen) {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("[model]\nbackend = \"openai\"\nbase_url = %q\nremote_model = \"m\"\nmax_tokens = 100000\n", srv.URL+"/v1")
	if err := os.WriteFile(filepath.Join(dir, "chatloop.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "chat")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GO_WANT_CHATLOOP_MAIN=1", "HOME="+dir, "XDG_STATE_HOME="+filepath.Join(dir, "state"), "TERM=xterm")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	scr := &ptyScreen{}
	copied := make(chan struct{})
	go func() { defer close(copied); _, _ = io.Copy(scr, ptmx) }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		ptmx.Close()
		<-copied
	})
	return cmd, ptmx, scr
}

// waitExit waits for the program to end and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-ctx.Done():
		t.Fatal("chatloop chat did not exit")
		return 0
	}
}

// TestChatTerminalCtrlC is issue 15's item 4: in the terminal chat Ctrl-C
// during an answer stops the answer (the server sees the request
// abandoned) and the chat goes on; the up arrow recalls the last line;
// Ctrl-D at the prompt exits, and so does Ctrl-C at the prompt.
func TestChatTerminalCtrlC(t *testing.T) {
	srv := newSlowOpenAI(t)
	cmd, ptmx, scr := startChatOnPty(t, srv)
	typeIn := func(s string) {
		t.Helper()
		if _, err := ptmx.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	pos := scr.waitFor(t, 0, "you> ")
	typeIn("tell me a long story\r")
	pos = scr.waitFor(t, pos, "w5 ")
	typeIn("\x03") // Ctrl-C while the answer is written
	pos = scr.waitFor(t, pos, "[answer stopped]")
	pos = scr.waitFor(t, pos, "you> ")
	if asked, abandoned := srv.counts(); asked != 1 || abandoned != 1 {
		t.Fatalf("server: %d answers asked, %d abandoned; want 1 and 1", asked, abandoned)
	}

	typeIn("\x1b[A") // up arrow
	pos = scr.waitFor(t, pos, "tell me a long story")
	typeIn("\r")
	pos = scr.waitFor(t, pos, "w3 ")
	typeIn("\x03")
	pos = scr.waitFor(t, pos, "[answer stopped]")
	scr.waitFor(t, pos, "you> ")
	typeIn("\x04") // Ctrl-D
	if code := waitExit(t, cmd); code != 0 {
		t.Fatalf("exit code %d after Ctrl-D, want 0", code)
	}
	if asked, _ := srv.counts(); asked != 2 {
		t.Fatalf("server was asked %d answers, want 2", asked)
	}

	// Ctrl-C at the prompt quits.
	cmd, ptmx, scr = startChatOnPty(t, srv)
	scr.waitFor(t, 0, "you> ")
	if _, err := ptmx.Write([]byte("\x03")); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd); code != 0 {
		t.Fatalf("exit code %d after Ctrl-C at the prompt, want 0", code)
	}
}
