package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunRefusesWithoutSocket: when its feedback socket cannot be made
// (here a live process already answers at the path), run stops at once
// with an error naming the socket instead of running without it.
func TestRunRefusesWithoutSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "taken.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/"
	l.Close()
	cfg := "[feedback]\nsocket = \"" + sock + "\"\n[web]\nlisten = \"127.0.0.1:0\"\n[discord]\nenabled = true\napi_url = \"" + dead + "\"\n"
	if err := os.WriteFile(filepath.Join(dir, "chatloop.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := exec.CommandContext(ctx, exe, "run", "--backend", "demo")
	run.Dir = dir
	run.Env = append(os.Environ(), "GO_WANT_CHATLOOP_MAIN=1", "DISCORD_TOKEN=a-token-for-the-test")
	var logs bytes.Buffer
	run.Stdout, run.Stderr = &logs, &logs
	err = run.Run()
	if ctx.Err() != nil {
		t.Fatalf("run kept running without its feedback socket:\n%s", logs.String())
	}
	if err == nil || !strings.Contains(logs.String(), "feedback socket") {
		t.Errorf("run: %v\n%s", err, logs.String())
	}
}
