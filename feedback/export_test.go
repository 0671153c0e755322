package feedback

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatloop/chatloop/bot"
)

var update = flag.Bool("update", false, "rewrite the golden export files in testdata")

// fixture is a small fixed store:
//
//	g1 (discord, day 1): a1 +2, a2 -1, a3 +2, same prompt: pairs a1>a2, a3>a2 (a1=a3 tie)
//	g2 (discord, day 2): A/B a4 vs a5, choices 2:1 for a4 (a later choice by v1 ignored)
//	g3 (wechat, day 3): a6 net +1 (a vote replaced), a7 -1 but a different prompt: no pair
//	a8 (discord, day 3): +1 but truncated; a9: no votes; a10: a vote removed
func fixture(t *testing.T) *Store {
	t.Helper()
	clock := &fakeClock{t: t0}
	s := openTest(t, Options{Now: clock.now})
	day := func(d int, min int) time.Time { return t0.AddDate(0, 0, d).Add(time.Duration(min) * time.Minute) }
	p1 := []string{"You are chatloop. Be brief.", "hello"}
	rec := func(id, group, platform, asker, text string, created time.Time, prompt []string) {
		a := answer(id, group, platform, "chat-1", asker, created, prompt...)
		must(t, s.RecordAnswer(bg, a))
		a.Text, a.Finished = text, true
		a.PromptTokens, a.AnswerTokens, a.Latency = 20, len(text)/4, 250*time.Millisecond
		must(t, s.FinishAnswer(bg, a))
	}
	vote := func(at time.Time, id, platform, voter string, v int) {
		clock.t = at
		must(t, s.Vote(bg, bot.AnswerID(id), platform, bot.UserID(voter), v))
	}
	rec("a1", "g1", "discord", "u0", "Hello! How can I help?", day(0, 0), p1)
	rec("a2", "g1", "discord", "u0", "What do you want.", day(0, 1), p1)
	rec("a3", "g1", "discord", "u0", "Hi there!", day(0, 2), p1)
	vote(day(0, 5), "a1", "discord", "u1", 1)
	vote(day(0, 6), "a1", "discord", "u2", 1)
	vote(day(0, 7), "a2", "discord", "u3", -1)
	vote(day(0, 8), "a3", "discord", "u1", 1)
	vote(day(0, 9), "a3", "discord", "u4", 1)

	p2 := []string{"You are chatloop. Be brief.", "hello", "Hi there!", "tell me a joke"}
	rec("a4", "g2", "discord", "u0", "Why did the GPU cross the road? To render the other side.", day(1, 0), p2)
	rec("a5", "g2", "discord", "u0", "No.", day(1, 0), p2)
	for i, c := range []struct{ w, l, v string }{{"a4", "a5", "u1"}, {"a4", "a5", "u2"}, {"a5", "a4", "u3"}, {"a5", "a4", "u1"}} {
		clock.t = day(1, 3+i)
		must(t, s.Choose(bg, bot.AnswerID(c.w), bot.AnswerID(c.l), "discord", bot.UserID(c.v)))
	}

	rec("a6", "g3", "wechat", "w0", "你好！", day(2, 0), []string{"你好"})
	rec("a7", "g3", "wechat", "w0", "Something else entirely", day(2, 1), []string{"a different prompt"})
	vote(day(2, 2), "a6", "wechat", "w1", -1)
	vote(day(2, 3), "a6", "wechat", "w1", 1)
	vote(day(2, 4), "a7", "wechat", "w2", -1)

	a8 := answer("a8", "", "discord", "chat-1", "u0", day(2, 5), "write a long essay")
	must(t, s.RecordAnswer(bg, a8))
	a8.Text, a8.Finished, a8.Truncated = "Once upon a", true, true
	must(t, s.FinishAnswer(bg, a8))
	vote(day(2, 6), "a8", "discord", "u1", 1)
	rec("a9", "", "discord", "u0", "unvoted", day(2, 7), []string{"anyone?"})
	rec("a10", "", "discord", "u0", "changed my mind", day(2, 8), []string{"q10"})
	vote(day(2, 9), "a10", "discord", "u1", 1)
	vote(day(2, 9), "a10", "discord", "u1", 0)
	return s
}

func exportString(t *testing.T, s *Store, o ExportOptions) string {
	t.Helper()
	var buf bytes.Buffer
	n, err := s.Export(bg, &buf, o)
	must(t, err)
	if lines := strings.Count(buf.String(), "\n"); lines != n {
		t.Errorf("%s: Export says %d rows, wrote %d lines", o.Format, n, lines)
	}
	return buf.String()
}

// hashesNamed replaces the store's hash of every fixture user by a
// readable placeholder, so the raw golden file does not depend on the
// random secret (and checks that the hashes are exactly HashUser's).
func hashesNamed(s *Store, out string) string {
	for _, u := range []string{"u0", "u1", "u2", "u3", "u4"} {
		out = strings.ReplaceAll(out, s.HashUser("discord", bot.UserID(u)), "HMAC(discord:"+u+")")
	}
	for _, u := range []string{"w0", "w1", "w2"} {
		out = strings.ReplaceAll(out, s.HashUser("wechat", bot.UserID(u)), "HMAC(wechat:"+u+")")
	}
	return out
}

func TestExportGolden(t *testing.T) {
	s := fixture(t)
	for _, f := range Formats {
		t.Run(f, func(t *testing.T) {
			got := hashesNamed(s, exportString(t, s, ExportOptions{Format: f, MinScore: 1}))
			if h := regexp.MustCompile(`[0-9a-f]{64}`).FindString(got); h != "" {
				t.Errorf("hash %s is no fixture user's", h)
			}
			path := filepath.Join("testdata", "export-"+f+".jsonl")
			if *update {
				must(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			must(t, err)
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s export differs from %s (-want +got):\n%s", f, path, diff)
			}
		})
	}
}

// decodeStrict decodes one JSON line into v, refusing unknown fields.
func decodeStrict(t *testing.T, line string, v any) {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("row %s: %v", line, err)
	}
}

func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func checkConversation(t *testing.T, what string, ms []TRLMessage, wantLast string) {
	t.Helper()
	if len(ms) == 0 {
		t.Errorf("%s is empty", what)
		return
	}
	for i, m := range ms {
		if !slices.Contains([]string{"system", "user", "assistant"}, m.Role) {
			t.Errorf("%s[%d] role %q", what, i, m.Role)
		}
		if m.Role == "system" && i != 0 {
			t.Errorf("%s[%d] is a system message after the start", what, i)
		}
	}
	if wantLast != "" && ms[len(ms)-1].Role != wantLast {
		t.Errorf("%s ends with %q, want %q", what, ms[len(ms)-1].Role, wantLast)
	}
}

// TestExportRowsMatchTheFormat checks every row field by field against the
// documented TRL formats, and that pairs never mix prompts.
func TestExportRowsMatchTheFormat(t *testing.T) {
	s := fixture(t)
	// Every answer's prompt and text, to check pairs against.
	raw := lines(exportString(t, s, ExportOptions{Format: FormatRaw}))
	if len(raw) != 10 {
		t.Fatalf("raw export has %d rows, want all 10 answers", len(raw))
	}
	promptOf := map[string]string{} // answer text -> prompt JSON
	netOf := map[string]int{}
	for _, l := range raw {
		var r RawRow
		decodeStrict(t, l, &r)
		p, _ := json.Marshal(r.Prompt)
		promptOf[r.Text] = string(p)
		netOf[r.Text] = r.Up - r.Down
		if len(r.Votes) != r.Up+r.Down {
			t.Errorf("%s: %d votes listed, %d counted", r.ID, len(r.Votes), r.Up+r.Down)
		}
		for _, v := range r.Votes {
			if len(v.VoterHash) != 64 || (v.Value != 1 && v.Value != -1) {
				t.Errorf("%s: vote %+v", r.ID, v)
			}
		}
		if r.AskerHash == "u0" || r.AskerHash == "w0" || len(r.AskerHash) != 64 {
			t.Errorf("%s: asker %q is not a hash", r.ID, r.AskerHash)
		}
	}

	pref := lines(exportString(t, s, ExportOptions{Format: FormatPreference}))
	if len(pref) != 3 {
		t.Errorf("%d preference rows, want 3 (a1>a2, a3>a2, a4>a5)", len(pref))
	}
	for _, l := range pref {
		var r PreferenceRow
		decodeStrict(t, l, &r)
		checkConversation(t, "prompt", r.Prompt, "user")
		checkConversation(t, "chosen", r.Chosen, "assistant")
		checkConversation(t, "rejected", r.Rejected, "assistant")
		if len(r.Chosen) != 1 || len(r.Rejected) != 1 {
			t.Fatalf("chosen/rejected hold %d/%d messages, want 1/1", len(r.Chosen), len(r.Rejected))
		}
		p, _ := json.Marshal(r.Prompt)
		c, rj := r.Chosen[0].Content, r.Rejected[0].Content
		if promptOf[c] != string(p) || promptOf[rj] != string(p) {
			t.Errorf("pair mixes prompts: %q / %q under %s", c, rj, p)
		}
		if c == rj {
			t.Errorf("pair of an answer with itself: %q", c)
		}
		if netOf[c] <= netOf[rj] && c != "Why did the GPU cross the road? To render the other side." {
			t.Errorf("chosen %q (net %d) is not preferred over %q (net %d)", c, netOf[c], rj, netOf[rj])
		}
	}

	kto := lines(exportString(t, s, ExportOptions{Format: FormatKTO}))
	if len(kto) != 6 {
		t.Errorf("%d KTO rows, want 6 (a1 a2 a3 a6 a7 a8)", len(kto))
	}
	for _, l := range kto {
		var r KTORow
		decodeStrict(t, l, &r)
		if !strings.Contains(l, `"label":`) {
			t.Errorf("row without a label: %s", l)
		}
		checkConversation(t, "prompt", r.Prompt, "user")
		checkConversation(t, "completion", r.Completion, "assistant")
		if want := netOf[r.Completion[0].Content] > 0; r.Label != want {
			t.Errorf("%q: label %v, want %v", r.Completion[0].Content, r.Label, want)
		}
	}

	sft := lines(exportString(t, s, ExportOptions{Format: FormatSFT, MinScore: 1}))
	if len(sft) != 3 {
		t.Errorf("%d SFT rows, want 3 (a1 a3 a6; a8 is truncated)", len(sft))
	}
	for _, l := range sft {
		var r SFTRow
		decodeStrict(t, l, &r)
		checkConversation(t, "messages", r.Messages, "assistant")
		if last := r.Messages[len(r.Messages)-1].Content; netOf[last] < 1 {
			t.Errorf("SFT row for %q with net score %d", last, netOf[last])
		}
	}
}

func TestExportFilters(t *testing.T) {
	s := fixture(t)
	count := func(o ExportOptions) int {
		return len(lines(exportString(t, s, o)))
	}
	day2 := t0.AddDate(0, 0, 1)
	day3 := t0.AddDate(0, 0, 2)
	cases := []struct {
		name string
		o    ExportOptions
		want int
	}{
		{"wechat kto", ExportOptions{Format: FormatKTO, Platform: "wechat"}, 2},
		{"wechat pairs (different prompts)", ExportOptions{Format: FormatPreference, Platform: "wechat"}, 0},
		{"discord pairs", ExportOptions{Format: FormatPreference, Platform: "discord"}, 3},
		{"since day 2 pairs", ExportOptions{Format: FormatPreference, Since: day2}, 1},
		{"until day 2 pairs", ExportOptions{Format: FormatPreference, Until: day2}, 2},
		{"day 2 raw", ExportOptions{Format: FormatRaw, Since: day2, Until: day3}, 2},
		{"min 2 votes kto", ExportOptions{Format: FormatKTO, MinVotes: 2}, 2},
		{"min 2 votes pairs", ExportOptions{Format: FormatPreference, MinVotes: 2}, 1},
		{"min 3 choices", ExportOptions{Format: FormatPreference, MinVotes: 3, Since: day2}, 1},
		{"min 4 choices", ExportOptions{Format: FormatPreference, MinVotes: 4, Since: day2}, 0},
		{"sft min score 2", ExportOptions{Format: FormatSFT, MinScore: 2}, 2},
		{"sft min score 0 (finished, complete, net >= 0)", ExportOptions{Format: FormatSFT}, 7},
	}
	for _, c := range cases {
		if got := count(c.o); got != c.want {
			t.Errorf("%s: %d rows, want %d", c.name, got, c.want)
		}
	}
	for _, bad := range []ExportOptions{{Format: "csv"}, {Format: FormatKTO, Since: day3, Until: day2}} {
		if _, err := s.Export(bg, &bytes.Buffer{}, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: got %v, want ErrInvalid", bad, err)
		}
	}
}

func TestStats(t *testing.T) {
	s := fixture(t)
	st, err := s.Stats(bg)
	must(t, err)
	if st.Answers != 10 || st.Up != 6 || st.Down != 2 || st.Votes != 8 || st.Choices != 3 {
		t.Errorf("got %d answers, %d up, %d down, %d votes, %d choices; want 10, 6, 2, 8, 3", st.Answers, st.Up, st.Down, st.Votes, st.Choices)
	}
	if st.Pairs != 3 || st.KTORows != 6 || st.SFTRows != 3 {
		t.Errorf("got %d pairs, %d KTO, %d SFT rows; want 3, 6, 3", st.Pairs, st.KTORows, st.SFTRows)
	}
	if len(st.ByDay) != 3 || st.ByDay[0].Key != "2026-03-01" || st.ByDay[0].Up != 4 || st.ByDay[0].Down != 1 {
		t.Errorf("by day: %+v", st.ByDay)
	} else if a := st.ByDay[0].Approval; a == nil || *a != 0.8 {
		t.Errorf("day 1 approval %v, want 0.8", a)
	}
	if len(st.ByModel) != 1 || st.ByModel[0].Key != "qwen2.5-0.5b-instruct Q8_0" || st.ByModel[0].Answers != 10 {
		t.Errorf("by model: %+v", st.ByModel)
	}
}
