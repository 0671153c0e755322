package redact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
)

const (
	token  = "MTA5ODc2NTQzMjEwOTg3NjU0.Gx1y2z.abcdefghijklmnopqrstuvwxyz0123"
	secret = "corp/secret+with=odd chars"
)

// TestHandlerRedacts: a configured secret is replaced wherever it appears
// in a record: the message, string attributes, errors (wrapped), values
// formatted with %v, groups, attributes bound with With, and its URL-query
// form; other text is left alone.
func TestHandlerRedacts(t *testing.T) {
	var buf bytes.Buffer
	set := &Secrets{}
	for _, json := range []bool{false, true} {
		buf.Reset()
		var inner slog.Handler = slog.NewTextHandler(&buf, nil)
		if json {
			inner = slog.NewJSONHandler(&buf, nil)
		}
		log := slog.New(NewHandler(inner, set))
		set.Add(token, secret, "", "ab") // empty and short values are ignored
		body := fmt.Sprintf(`{"message": "401: Unauthorized", "echo": "Authorization: Bot %s", "url": "/gettoken?corpsecret=%s"}`, token, url.QueryEscape(secret))
		log.With("bound", "Bot "+token).WithGroup("g").Error("discord said "+body,
			"err", fmt.Errorf("wecom gettoken: %w", errors.New("HTTP 500: "+body)),
			"body", body,
			slog.Group("req", "header", []string{"Bot " + token}),
			"any", struct{ S string }{secret},
			"n", 42, "about", "abc")
		out := buf.String()
		for _, leak := range []string{token, secret, url.QueryEscape(secret)} {
			if strings.Contains(out, leak) {
				t.Errorf("json=%v: %q leaked:\n%s", json, leak, out)
			}
		}
		if n := strings.Count(out, Mask); n < 8 {
			t.Errorf("json=%v: %d masks, want at least 8:\n%s", json, n, out)
		}
		if !strings.Contains(out, "401: Unauthorized") || !strings.Contains(out, "42") || !strings.Contains(out, "abc") {
			t.Errorf("json=%v: other text was lost:\n%s", json, out)
		}
	}
}

// TestSecretsConcurrent: secrets may be added while others log.
func TestSecretsConcurrent(t *testing.T) {
	set := &Secrets{}
	var buf syncBuffer
	log := slog.New(NewHandler(slog.NewTextHandler(&buf, nil), set))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			set.Add(fmt.Sprintf("secret-number-%d", i))
			log.Info("x", "v", fmt.Sprintf("secret-number-%d", i))
		}()
	}
	wg.Wait()
	if strings.Contains(buf.String(), "secret-number") {
		t.Errorf("leaked:\n%s", buf.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestString(t *testing.T) {
	set := &Secrets{}
	set.Add("hunter22")
	if got := set.String("pw=hunter22&x=hunter22"); got != "pw="+Mask+"&x="+Mask {
		t.Errorf("String = %q", got)
	}
	var nilSet *Secrets
	if got := nilSet.String("hunter22"); got != "hunter22" {
		t.Errorf("nil set changed the text: %q", got)
	}
	_ = context.Background()
}
