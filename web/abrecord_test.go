package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// TestOverviewABRecord: the overview shows each version's A/B record
// against the other, with the Wilson interval of the share won.
func TestOverviewABRecord(t *testing.T) {
	store := testStore(t)
	ctx := context.Background()
	base := bot.ModelInfo{Backend: "local", Name: "qwen2.5-0.5b-instruct", Quantization: "Q8_0", SHA256: "3f2a9c0d11e4aaaa"}
	tuned := base
	tuned.Name += "+tuned-9ae8"
	tuned.Adapters = []bot.AdapterVersion{{SHA256: strings.Repeat("9ae8", 16), Scale: 1, Short: "+tuned-9ae8"}}
	prompt := []bot.Turn{{Role: bot.RoleUser, Content: "hi"}}
	for i, tunedWins := range []bool{true, true, false} {
		g := bot.GroupID("ab" + string(rune('0'+i)))
		a := bot.Answer{ID: bot.AnswerID("AB" + string(rune('0'+i))), GroupID: g, Platform: "discord", ChatID: "c", Created: t0, Prompt: prompt, Text: "base", Model: base, Finished: true, Sent: true, Label: "A"}
		b := bot.Answer{ID: bot.AnswerID("AT" + string(rune('0'+i))), GroupID: g, Platform: "discord", ChatID: "c", Created: t0, Prompt: prompt, Text: "tuned", Model: tuned, Finished: true, Sent: true, Label: "B"}
		for _, x := range []bot.Answer{a, b} {
			if err := store.RecordAnswer(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		w, l := b.ID, a.ID
		if !tunedWins {
			w, l = l, w
		}
		if err := store.Choose(ctx, w, l, "discord", "v1"); err != nil {
			t.Fatal(err)
		}
	}
	ts := newTestServer(t, Options{Store: store})
	code, body, _ := get(t, http.DefaultClient, ts.URL+"/")
	if code != 200 {
		t.Fatalf("GET /: %d", code)
	}
	pct := funcs["pct"].(func(float64) string)
	lo, hi := feedback.Wilson(2, 3)
	for _, want := range []string{`id="ab-record"`, "tuned-9ae8 Q8_0 @3f2a9c0d11e4", pct(2.0 / 3), pct(lo), pct(hi)} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	// Without choices there is no A/B table.
	_, body, _ = get(t, http.DefaultClient, newTestServer(t, Options{}).URL+"/")
	if strings.Contains(body, `id="ab-record"`) {
		t.Error("an A/B table without choices")
	}
}
