package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// TestServeEndToEnd runs `chatloop serve` on a generated model with an API
// key, then a second chatloop whose backend is "openai" against it: the
// way one engine serves several bots.
func TestServeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	modelPath := filepath.Join(dir, "tiny-Q8_0.gguf")
	if err := testmodel.WriteFile(modelPath, testmodel.Tiny("qwen2", ggml.Q8_0, 9)); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const key = "sk-serve-test-key-0123"
	srv := exec.Command(exe, "serve", "--model", modelPath, "--listen", addr, "--context", "256", "--threads", "1")
	srv.Dir = dir
	srv.Env = append(os.Environ(), "GO_WANT_CHATLOOP_MAIN=1", apiKeyEnv+"="+key)
	var logs bytes.Buffer
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The model's id comes from its file name; the key is required.
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/models", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/v1/models without the key: %d, want 401", resp.StatusCode)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var models struct {
		Data []struct{ ID string } `json:"data"`
	}
	err = json.NewDecoder(resp.Body).Decode(&models)
	resp.Body.Close()
	if err != nil || len(models.Data) != 1 || models.Data[0].ID != "tiny-Q8_0" {
		t.Fatalf("models %+v, %v; want the id tiny-Q8_0", models, err)
	}

	// A second chatloop answers through it.
	client := t.TempDir()
	cfg := fmt.Sprintf("[model]\nbackend = \"openai\"\nbase_url = %q\nremote_model = \"tiny-Q8_0\"\napi_key_env = %q\nmax_tokens = 8\n", base+"/v1", apiKeyEnv)
	if err := os.WriteFile(filepath.Join(client, "chatloop.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "chat", "--once", "Say hello.")
	cmd.Dir = client
	cmd.Env = append(os.Environ(), "GO_WANT_CHATLOOP_MAIN=1", apiKeyEnv+"="+key)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("chat --once against serve: %v\nstdout %q\nstderr %s\nserve log:\n%s", err, out.String(), errOut.String(), logs.String())
	}
	if strings.TrimSpace(out.String()) == "" {
		t.Errorf("chat --once printed no answer; stderr %s", errOut.String())
	}
	if strings.Contains(logs.String(), key) {
		t.Error("the server logged its API key")
	}

	// SIGTERM stops it cleanly.
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM:\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	if !strings.Contains(logs.String(), "answered") {
		t.Errorf("the server did not log the answer:\n%s", logs.String())
	}
}

func TestServeRefusesBadFlags(t *testing.T) {
	_, errOut, code := chatloop(t, t.TempDir(), "", "serve", "--max-tokens", "-3")
	if code == 0 || !strings.Contains(errOut, "--max-tokens") {
		t.Errorf("exit %d, stderr %q: want a refusal naming --max-tokens", code, errOut)
	}
}
