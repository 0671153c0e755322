package socket

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/chatloop/chatloop/internal/childtest"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/feedback"
)

// TestMain lets the test binary act as a second process: with
// FEEDBACK_TEST_CHILD=serve it holds a database and serves it.
func TestMain(m *testing.M) {
	switch os.Getenv("FEEDBACK_TEST_CHILD") {
	case "":
		os.Exit(m.Run())
	case "serve":
		childServe(os.Getenv("FEEDBACK_TEST_DB"), os.Getenv("FEEDBACK_TEST_SOCKET"))
	case "squat":
		childSquat(os.Getenv("FEEDBACK_TEST_SOCKET"), os.Getenv("FEEDBACK_TEST_OUT"))
	default:
		fmt.Fprintln(os.Stderr, "unknown child role")
		os.Exit(2)
	}
	os.Exit(0)
}

// childServe holds the database and serves it on a socket until its stdin
// closes.
func childServe(path, socket string) {
	s, err := feedback.Open(path, feedback.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, s, socket, nil) }()
	for {
		if _, err := os.Stat(socket); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func startChild(t *testing.T, role string, env ...string) (*exec.Cmd, io.WriteCloser, *bufio.Scanner) {
	t.Helper()
	return childtest.Start(t, "FEEDBACK_TEST_CHILD", role, env...)
}

// TestLockedFileFailsFast opens a file another process holds: Open fails
// within its timeout with feedback.ErrLocked and says why, and the serving process
// answers stats, export, backup and forget over its socket.
func TestLockedFileFailsFast(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "held.db")
	socket := filepath.Join(dir, "held.sock")
	s, err := feedback.Open(path, feedback.Options{})
	must(t, err)
	must(t, s.RecordAnswer(bg, answer("a1")))
	must(t, s.RecordAnswer(bg, answer("a2")))
	must(t, s.Vote(bg, "a1", "discord", "bob", 1))
	must(t, s.Vote(bg, "a2", "discord", "bob", -1))
	must(t, s.Close())

	_, stdin, _ := startChild(t, "serve", "FEEDBACK_TEST_DB="+path, "FEEDBACK_TEST_SOCKET="+socket)

	for _, timeout := range []time.Duration{200 * time.Millisecond, 0} {
		begun := time.Now()
		_, err = feedback.Open(path, feedback.Options{Timeout: timeout, ReadOnly: timeout == 0})
		took := time.Since(begun)
		if !errors.Is(err, feedback.ErrLocked) {
			t.Fatalf("timeout %v: got %v, want feedback.ErrLocked", timeout, err)
		}
		if !strings.Contains(err.Error(), "another process") {
			t.Errorf("message %q does not say another process holds the file", err)
		}
		if took > feedback.DefaultTimeout+2*time.Second {
			t.Errorf("timeout %v: Open took %v", timeout, took)
		}
	}

	c := NewClient(socket)
	st, err := c.Stats(bg)
	must(t, err)
	if st.Answers != 2 || st.Pairs != 1 {
		t.Errorf("remote stats: %d answers, %d pairs; want 2 and 1", st.Answers, st.Pairs)
	}
	var rows bytes.Buffer
	n, err := c.Export(bg, &rows, feedback.ExportOptions{Format: feedback.FormatPreference})
	must(t, err)
	if n != 1 || strings.Count(rows.String(), "\n") != 1 || !strings.Contains(rows.String(), `"chosen"`) {
		t.Errorf("remote export: %d rows:\n%s", n, rows.String())
	}
	if _, err := c.Export(bg, io.Discard, feedback.ExportOptions{Format: "nope"}); !errors.Is(err, feedback.ErrInvalid) {
		t.Errorf("bad format: got %v, want ErrInvalid", err)
	}
	var backup bytes.Buffer
	size, err := c.Backup(bg, &backup)
	must(t, err)
	if size != int64(backup.Len()) {
		t.Errorf("backup: %d bytes reported, %d received", size, backup.Len())
	}
	copyPath := filepath.Join(dir, "copy.db")
	must(t, os.WriteFile(copyPath, backup.Bytes(), 0o600))
	cp, err := feedback.Open(copyPath, feedback.Options{ReadOnly: true})
	must(t, err)
	if err := cp.Check(bg); err != nil {
		t.Errorf("the backup copy: %v", err)
	}
	if cst, err := cp.Stats(bg); err != nil || cst.Answers != 2 || cst.Votes != 2 {
		t.Errorf("backup copy stats %+v, %v", cst, err)
	}
	cp.Close()
	f, err := c.Forget(bg, "discord", "bob", false)
	must(t, err)
	if f.Votes != 2 {
		t.Errorf("remote forget removed %+v, want 2 votes", f)
	}

	// When the serving process stops, the socket goes and the file opens.
	stdin.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err = feedback.Open(path, feedback.Options{Timeout: 100 * time.Millisecond})
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	must(t, err)
	defer s.Close()
	if _, err := os.Lstat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
	if _, err := NewClient(socket).Stats(bg); !errors.Is(err, ErrNoServer) {
		t.Errorf("no server: got %v, want ErrNoServer", err)
	}
	if st, _ := s.Stats(bg); st.Votes != 0 {
		t.Errorf("%d votes after the remote forget, want 0", st.Votes)
	}
}
