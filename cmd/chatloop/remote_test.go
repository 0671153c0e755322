package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/model/remote"
)

// fakeOpenAI streams a fixed answer as server-sent events; cut makes it
// drop the connection after the first two pieces.
type fakeOpenAI struct {
	*httptest.Server
	mu     sync.Mutex
	models []string
	cut    bool
	bodies []map[string]any
	auth   []string
}

func newFakeOpenAI(t *testing.T, models ...string) *fakeOpenAI {
	t.Helper()
	f := &fakeOpenAI{models: models}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/models":
			var data []map[string]string
			f.mu.Lock()
			models := f.models
			f.mu.Unlock()
			for _, m := range models {
				data = append(data, map[string]string{"id": m, "object": "model"})
			}
			json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
		case "/v1/chat/completions":
			var body map[string]any
			json.NewDecoder(r.Body).Decode(&body)
			f.mu.Lock()
			f.bodies = append(f.bodies, body)
			f.auth = append(f.auth, r.Header.Get("Authorization"))
			cut := f.cut
			f.mu.Unlock()
			w.Header().Set("Content-Type", "text/event-stream")
			for i, piece := range []string{"Hello", " from", " the", " cluster"} {
				if cut && i == 2 {
					panic(http.ErrAbortHandler)
				}
				fmt.Fprintf(w, "data: {\"model\":\"served-model-v2\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\n", piece)
				w.(http.Flusher).Flush()
			}
			fmt.Fprint(w, "data: {\"model\":\"served-model-v2\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
			fmt.Fprint(w, "data: {\"model\":\"served-model-v2\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":4}}\n\n")
			fmt.Fprint(w, "data: [DONE]\n\n")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func remoteTestConfig(f *fakeOpenAI) *Config {
	cfg := defaultConfig()
	cfg.Model.Backend = "openai"
	cfg.Model.BaseURL = f.URL + "/v1"
	cfg.Model.APIKeyEnv = "CHATLOOP_TEST_REMOTE_KEY"
	return &cfg
}

var remoteReq = bot.Request{
	Messages:  []bot.Turn{{Role: bot.RoleSystem, Content: "Be brief."}, {Role: bot.RoleUser, Content: "hi"}},
	Sampling:  bot.Sampling{Temperature: 0.5, TopP: 0.8, Seed: 7},
	MaxTokens: 32,
}

func TestRemoteBackendGenerates(t *testing.T) {
	f := newFakeOpenAI(t, "served-model-v2")
	t.Setenv("CHATLOOP_TEST_REMOTE_KEY", "sk-from-env")
	cfg := remoteTestConfig(f)
	cfg.Model.RemoteModel = "my-model"
	var logs bytes.Buffer
	a := pullTestApp(&logs)
	be, err := a.openBackend(pullTestCommand(false), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer be.close()
	var streamed strings.Builder
	res, err := be.gen.Generate(context.Background(), remoteReq, func(s string) { streamed.WriteString(s) })
	if err != nil {
		t.Fatal(err)
	}
	want := bot.Result{Text: "Hello from the cluster", PromptTokens: 12, AnswerTokens: 4,
		Model: bot.ModelInfo{Backend: "openai", Name: "served-model-v2"}}
	sent := res.Sampling
	res.Sampling = nil
	if !reflect.DeepEqual(res, want) {
		t.Errorf("got %+v, want %+v", res, want)
	}
	if wantSent := (bot.Sampling{Temperature: 0.5, TopP: 0.8, Seed: 7}); sent == nil || *sent != wantSent {
		t.Errorf("sampling reported as sent %+v, want %+v", sent, wantSent)
	}
	if streamed.String() != want.Text {
		t.Errorf("streamed %q", streamed.String())
	}
	body := f.bodies[0]
	if body["model"] != "my-model" || body["temperature"] != 0.5 || body["top_p"] != 0.8 || body["max_tokens"] != 32.0 || body["seed"] != 7.0 || body["stream"] != true {
		t.Errorf("request body %v", body)
	}
	if f.auth[0] != "Bearer sk-from-env" {
		t.Errorf("Authorization %q", f.auth[0])
	}
	if strings.Contains(logs.String(), "sk-from-env") {
		t.Error("the API key was logged")
	}
}

func TestRemoteBackendPicksTheOnlyModel(t *testing.T) {
	f := newFakeOpenAI(t, "llama3.2:1b")
	a := pullTestApp(&bytes.Buffer{})
	be, err := a.openBackend(pullTestCommand(false), remoteTestConfig(f))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := be.gen.Generate(context.Background(), remoteReq, nil); err != nil {
		t.Fatal(err)
	}
	if f.bodies[0]["model"] != "llama3.2:1b" {
		t.Errorf("asked for model %v", f.bodies[0]["model"])
	}

	f.mu.Lock()
	f.models = []string{"a", "b"}
	f.mu.Unlock()
	if _, err := a.openBackend(pullTestCommand(false), remoteTestConfig(f)); err == nil || !strings.Contains(err.Error(), "a, b") {
		t.Errorf("several models and no remote_model: %v", err)
	}
}

func TestRemoteBackendCutAnswerIsTruncated(t *testing.T) {
	f := newFakeOpenAI(t, "m")
	f.mu.Lock()
	f.cut = true
	f.mu.Unlock()
	cfg := remoteTestConfig(f)
	cfg.Model.RemoteModel = "m"
	a := pullTestApp(&bytes.Buffer{})
	be, err := a.openBackend(pullTestCommand(false), cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := be.gen.Generate(context.Background(), remoteReq, nil)
	if err != nil {
		t.Fatalf("a cut answer with text should be kept: %v", err)
	}
	if res.Text != "Hello from" || !res.Truncated || res.Model.Name != "served-model-v2" || res.Model.Backend != "openai" {
		t.Errorf("got %+v", res)
	}
}

func TestRemoteBackendErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			http.Error(w, `{"error":{"message":"missing key"}}`, http.StatusUnauthorized)
			return
		}
		http.Error(w, `{"error":{"message":"model not found"}}`, http.StatusNotFound)
	}))
	defer srv.Close()
	cfg := defaultConfig()
	cfg.Model.BaseURL, cfg.Model.RemoteModel, cfg.Model.APIKeyEnv = srv.URL+"/v1", "ghost", "CHATLOOP_TEST_REMOTE_KEY"
	a := pullTestApp(&bytes.Buffer{})

	t.Setenv("CHATLOOP_TEST_REMOTE_KEY", "")
	be, err := a.openRemoteBackend(pullTestCommand(false), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = be.gen.Generate(context.Background(), remoteReq, nil)
	if !errors.Is(err, remote.ErrUnauthorized) || !strings.Contains(err.Error(), "$CHATLOOP_TEST_REMOTE_KEY") {
		t.Errorf("no key: %v", err)
	}

	t.Setenv("CHATLOOP_TEST_REMOTE_KEY", "sk-x")
	be, _ = a.openRemoteBackend(pullTestCommand(false), &cfg)
	_, err = be.gen.Generate(context.Background(), remoteReq, nil)
	if !errors.Is(err, remote.ErrModelNotFound) || !strings.Contains(err.Error(), `"ghost"`) {
		t.Errorf("unknown model: %v", err)
	}
}
