//go:build linux

package socket

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childSquat listens on socket as whoever it runs as, and appends every
// byte any client sends to out, until its stdin closes.
func childSquat(socket, out string) {
	ln, err := net.Listen("unix", socket)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	_ = os.Chmod(socket, 0o777)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(io.LimitReader(c, 1<<20))
				f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND, 0)
				if err == nil {
					f.Write(b)
					f.Close()
				}
			}()
		}
	}()
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin)
}

// TestClientRefusesSquatter: another user's socket at the path, or
// another user's process answering on a socket that looks like ours, gets
// nothing from the client: not the command, not a raw user id.
func TestClientRefusesSquatter(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a process as another user")
	}
	const nobody = 65534
	dir, err := os.MkdirTemp("", "squat")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "chatloop.db.sock")
	out := filepath.Join(dir, "captured")
	if err := os.WriteFile(out, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(out, 0o666)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A copy the other user can run (the test binary's directory is
	// private).
	exe := filepath.Join(dir, "squatter")
	if b, err := os.ReadFile(self); err != nil || os.WriteFile(exe, b, 0o755) != nil {
		t.Fatalf("copying the test binary: %v", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "FEEDBACK_TEST_CHILD=squat", "FEEDBACK_TEST_SOCKET="+socket, "FEEDBACK_TEST_OUT="+out)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot run a process as uid %d: %v", nobody, err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		t.Skipf("the squatter did not start (the test binary may not be readable by uid %d): %q", nobody, line)
	}

	c := NewClient(socket)
	ctx, cancel := context.WithTimeout(bg, 3*time.Second)
	defer cancel()
	_, err = c.Forget(ctx, "wechat", "raw-user-id-wxid_secret", false)
	if !errors.Is(err, ErrNotOurs) || !strings.Contains(err.Error(), "uid 65534") {
		t.Errorf("another user's socket: %v, want ErrNotOurs naming the owner", err)
	}
	// The socket made to look like ours: the peer is still not us.
	if err := os.Lchown(socket, os.Getuid(), os.Getgid()); err != nil {
		t.Fatal(err)
	}
	_, err = c.Stats(ctx)
	if !errors.Is(err, ErrNotOurs) {
		t.Errorf("another user's process behind our socket: %v, want ErrNotOurs", err)
	}
	time.Sleep(100 * time.Millisecond)
	if b, _ := os.ReadFile(out); len(b) > 0 {
		t.Errorf("the squatter received %q", b)
	}
}
