package feedback

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// pairsStore has two askers: u1 asked three prompts, u2 one, each answered
// twice with opposite votes, so every group gives one pair.
func pairsStore(t *testing.T) *Store {
	s := openTest(t, Options{Now: func() time.Time { return t0 }})
	for i, asker := range []string{"u1", "u1", "u1", "u2"} {
		g := string(rune('a' + i))
		q := "question " + g
		for j, text := range []string{"good " + g, "bad " + g} {
			a := answer("01"+g+string(rune('1'+j)), g, "discord", "c", asker, t0, "Be brief.", q)
			must(t, s.RecordAnswer(bg, a))
			a.Text, a.Finished = text, true
			must(t, s.FinishAnswer(bg, a))
			must(t, s.Vote(bg, a.ID, "discord", "v", 1-2*j))
		}
	}
	return s
}

func TestExportOpenAIDPO(t *testing.T) {
	s := pairsStore(t)
	var pref, oai bytes.Buffer
	n1, err := s.Export(bg, &pref, ExportOptions{Format: FormatPreference})
	must(t, err)
	n2, err := s.Export(bg, &oai, ExportOptions{Format: FormatOpenAIDPO})
	must(t, err)
	if n1 != 4 || n2 != 4 {
		t.Fatalf("rows: preference %d, openai-dpo %d, want 4 and 4", n1, n2)
	}
	// Each openai-dpo row is the preference row in OpenAI's field names.
	prefLines := strings.Split(strings.TrimSpace(pref.String()), "\n")
	for i, line := range strings.Split(strings.TrimSpace(oai.String()), "\n") {
		var raw map[string]json.RawMessage
		must(t, json.Unmarshal([]byte(line), &raw))
		if len(raw) != 3 || raw["input"] == nil || raw["preferred_output"] == nil || raw["non_preferred_output"] == nil {
			t.Fatalf("openai-dpo row has keys %v", keysOf(raw))
		}
		var o OpenAIDPORow
		var p PreferenceRow
		must(t, json.Unmarshal([]byte(line), &o))
		must(t, json.Unmarshal([]byte(prefLines[i]), &p))
		if !equalMessages(o.Input.Messages, p.Prompt) || !equalMessages(o.PreferredOutput, p.Chosen) || !equalMessages(o.NonPreferredOutput, p.Rejected) {
			t.Errorf("row %d: %s\nis not\n%s", i, line, prefLines[i])
		}
		if last := o.Input.Messages[len(o.Input.Messages)-1]; last.Role != "user" {
			t.Errorf("row %d: input ends with a %s message, want user", i, last.Role)
		}
	}
	var sft, osft bytes.Buffer
	_, err = s.Export(bg, &sft, ExportOptions{Format: FormatSFT, MinScore: 1})
	must(t, err)
	_, err = s.Export(bg, &osft, ExportOptions{Format: FormatOpenAISFT, MinScore: 1})
	must(t, err)
	if sft.String() != osft.String() || strings.Count(sft.String(), "\n") != 4 {
		t.Errorf("openai-sft:\n%s\nwant the sft rows:\n%s", osft.String(), sft.String())
	}
}

func TestExportMaxPairsPerUser(t *testing.T) {
	s := pairsStore(t)
	for _, c := range []struct{ max, want int }{{0, 4}, {1, 2}, {2, 3}, {3, 4}} {
		for _, f := range []string{FormatPreference, FormatOpenAIDPO} {
			n, err := s.Export(bg, &bytes.Buffer{}, ExportOptions{Format: f, MaxPairsPerUser: c.max})
			must(t, err)
			if n != c.want {
				t.Errorf("%s with max %d pairs per user: %d rows, want %d", f, c.max, n, c.want)
			}
		}
	}
	if _, err := s.Export(bg, &bytes.Buffer{}, ExportOptions{Format: FormatPreference, MaxPairsPerUser: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("max -1: got %v, want ErrInvalid", err)
	}
}

func keysOf(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// equalMessages reports whether an OpenAI row's messages and a TRL row's
// are the same JSON (they are, for plain messages).
func equalMessages(a []OpenAIMessage, b []TRLMessage) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
