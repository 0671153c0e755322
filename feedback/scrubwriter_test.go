package feedback

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/feedback/scrub"
)

// TestScrubWriterKeepsCleanRows: with nothing personal in it, every
// format's export comes through byte for byte.
func TestScrubWriterKeepsCleanRows(t *testing.T) {
	s := fixture(t)
	for _, f := range Formats {
		var plain, scrubbed bytes.Buffer
		_, err := s.Export(bg, &plain, ExportOptions{Format: f, MinScore: 1})
		must(t, err)
		sw := NewScrubWriter(&scrubbed, f)
		_, err = s.Export(bg, sw, ExportOptions{Format: f, MinScore: 1})
		must(t, err)
		must(t, sw.Close())
		if plain.Len() == 0 || plain.String() != scrubbed.String() {
			t.Errorf("%s: scrubbing changed clean rows:\n%s\nto\n%s", f, plain.String(), scrubbed.String())
		}
		if sw.Summary() != "nothing to scrub" {
			t.Errorf("%s: %s", f, sw.Summary())
		}
	}
}

// TestScrubWriterPair: an e-mail in the prompt and in both answers of a
// pair gets one placeholder; the next row starts again at 1.
func TestScrubWriterPair(t *testing.T) {
	s := openTest(t, Options{Now: func() time.Time { return t0 }})
	for _, g := range []string{"g1", "g2"} {
		for j, text := range []string{"Mail ann@example.com or call 13812345678.", "ann@example.com? No idea."} {
			a := answer(g+string(rune('a'+j)), g, "wechat", "c", "u", t0, "Be brief.", "@张三 how do I reach ann@example.com?")
			a.Text, a.Finished = text, true
			must(t, s.RecordAnswer(bg, a))
			must(t, s.FinishAnswer(bg, a))
			must(t, s.Vote(bg, a.ID, "wechat", "v", 1-2*j))
		}
	}
	for _, f := range []string{FormatPreference, FormatOpenAIDPO} {
		var out bytes.Buffer
		sw := NewScrubWriter(&out, f)
		_, err := s.Export(bg, sw, ExportOptions{Format: f})
		must(t, err)
		must(t, sw.Close())
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("%s: %d rows", f, len(lines))
		}
		for _, l := range lines {
			for _, want := range []string{"@[USER_1] how do I reach <EMAIL_1>?", "Mail <EMAIL_1> or call <PHONE_1>.", "<EMAIL_1>? No idea."} {
				if !strings.Contains(l, want) {
					t.Errorf("%s row lacks %q: %s", f, want, l)
				}
			}
			if strings.Contains(l, "ann@") || strings.Contains(l, "138") || strings.Contains(l, "张三") {
				t.Errorf("%s row keeps personal data: %s", f, l)
			}
		}
		c := sw.Counts()
		if c[scrub.Email] != 6 || c[scrub.Phone] != 2 || c[scrub.Mention] != 2 {
			t.Errorf("%s counts %v", f, c)
		}
	}
	var out bytes.Buffer
	sw := NewScrubWriter(&out, FormatKTO)
	sw.Write([]byte(`{"prompt":[],"completion":[],"label":true}` + "\n" + `{"prompt":`))
	if err := sw.Close(); err == nil {
		t.Error("a cut row: no error")
	}
	if _, err := NewScrubWriter(&out, "csv").Write([]byte("{}\n")); err == nil {
		t.Error("unknown format: no error")
	}
}
