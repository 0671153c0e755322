package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunHoldsDatabaseAndServesFeedback starts "chatloop run" with an
// adapter enabled whose server is unreachable (it keeps retrying), then
// checks that feedback commands reach the running process over its socket
// while it holds the database, and that SIGTERM stops it cleanly.
func TestRunHoldsDatabaseAndServesFeedback(t *testing.T) {
	dir := t.TempDir()
	// A loopback port with nothing listening: the adapter's connection
	// attempts fail and are retried, as after a platform outage.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/"
	l.Close()
	cfg := "[web]\nlisten = \"127.0.0.1:0\"\n[discord]\nenabled = true\napi_url = \"" + dead + "\"\n"
	if err := os.WriteFile(filepath.Join(dir, "chatloop.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := exec.Command(exe, "run", "--backend", "demo")
	run.Dir = dir
	const token = "secret-token-value-123"
	run.Env = append(os.Environ(), "GO_WANT_CHATLOOP_MAIN=1", "DISCORD_TOKEN="+token)
	var logs bytes.Buffer
	run.Stdout, run.Stderr = &logs, &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = run.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = run.Process.Kill()
		<-exited
	})

	sock := filepath.Join(dir, "chatloop.db.sock")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no feedback socket after 20s; logs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	out, errOut, code := chatloop(t, dir, "", "feedback", "stats", "--json")
	if code != 0 || !strings.Contains(out, "{") {
		t.Fatalf("stats while run holds the database: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	_, errOut, code = chatloop(t, dir, "", "feedback", "backup", filepath.Join(dir, "copy.db"))
	if code != 0 {
		t.Fatalf("backup while run holds the database: exit %d: %s", code, errOut)
	}
	if fi, err := os.Stat(filepath.Join(dir, "copy.db")); err != nil || fi.Size() == 0 {
		t.Fatalf("backup file: %v", err)
	}
	// A second bot on the same database fails fast with a clear message.
	_, errOut, code = chatloop(t, dir, "", "chat", "--backend", "demo", "--once", "hi")
	if code == 0 || !strings.Contains(errOut, "locked") {
		t.Errorf("chat on a held database: exit %d, stderr %q", code, errOut)
	}

	if err := run.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("run exited with %v after SIGTERM; logs:\n%s", waitErr, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("run did not stop within 15s of SIGTERM; logs:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the Discord token appears in the logs")
	}
}

func TestRunWithoutAdapters(t *testing.T) {
	_, errOut, code := chatloop(t, t.TempDir(), "", "run", "--backend", "demo")
	if code == 0 || !strings.Contains(errOut, "no adapter is enabled") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
