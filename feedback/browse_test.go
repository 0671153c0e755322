package feedback

import (
	"errors"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
)

func TestAnswersFilters(t *testing.T) {
	s := openTest(t, Options{Now: func() time.Time { return t0 }})
	rec := func(id, group, platform, chat, text string, at time.Time, prompt string) {
		a := answer(id, group, platform, chat, "u1", at, prompt)
		a.Text = text
		must(t, s.RecordAnswer(bg, a))
	}
	rec("01A", "g1", "discord", "c1", "Paris is the capital.", t0, "capital of France?")
	rec("01B", "g1", "discord", "c1", "It is Lyon.", t0.Add(time.Minute), "capital of France?")
	rec("01C", "", "wechat", "群1", "你好！", t0.Add(time.Hour), "你好")
	rec("01D", "", "wechat", "群1", "Nothing to see.", t0.Add(2*time.Hour), "hm")
	must(t, s.Vote(bg, "01A", "discord", "v1", 1))
	must(t, s.Vote(bg, "01B", "discord", "v1", -1))
	must(t, s.Vote(bg, "01B", "discord", "v2", -1))

	ids := func(vs []AnswerView) []string {
		var out []string
		for _, v := range vs {
			out = append(out, string(v.ID))
		}
		return out
	}
	for _, c := range []struct {
		name string
		f    AnswerFilter
		want []string
		more bool
	}{
		{"all newest first", AnswerFilter{}, []string{"01D", "01C", "01B", "01A"}, false},
		{"platform", AnswerFilter{Platform: "discord"}, []string{"01B", "01A"}, false},
		{"chat", AnswerFilter{Chat: "群1"}, []string{"01D", "01C"}, false},
		{"up", AnswerFilter{Vote: VoteUp}, []string{"01A"}, false},
		{"down", AnswerFilter{Vote: VoteDown}, []string{"01B"}, false},
		{"none", AnswerFilter{Vote: VoteNone}, []string{"01D", "01C"}, false},
		{"text in answer, any case", AnswerFilter{Text: "PARIS"}, []string{"01A"}, false},
		{"text in prompt", AnswerFilter{Text: "france"}, []string{"01B", "01A"}, false},
		{"since until", AnswerFilter{Since: t0.Add(time.Minute), Until: t0.Add(2 * time.Hour)}, []string{"01C", "01B"}, false},
		{"version", AnswerFilter{Version: "qwen2.5-0.5b-instruct Q8_0 @ab12"}, []string{"01D", "01C", "01B", "01A"}, false},
		{"other version", AnswerFilter{Version: "nope"}, nil, false},
		{"page 1", AnswerFilter{Limit: 3}, []string{"01D", "01C", "01B"}, true},
		{"page 2", AnswerFilter{Limit: 3, Before: "01B"}, []string{"01A"}, false},
	} {
		got, more, err := s.Answers(bg, c.f)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if g := ids(got); !equalStrings(g, c.want) || more != c.more {
			t.Errorf("%s: got %v more=%v, want %v more=%v", c.name, g, more, c.want, c.more)
		}
	}
	if _, _, err := s.Answers(bg, AnswerFilter{Vote: "sideways"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad vote filter: got %v, want ErrInvalid", err)
	}

	view, sib, err := s.AnswerWithSiblings(bg, "01B")
	must(t, err)
	if view.Up != 0 || view.Down != 2 || len(view.Votes) != 2 || view.Prompt[0].Content != "capital of France?" {
		t.Errorf("answer view: got %+v", view)
	}
	if len(sib) != 1 || sib[0].ID != "01A" || sib[0].Up != 1 {
		t.Errorf("siblings: got %+v", sib)
	}
	if _, _, err := s.AnswerWithSiblings(bg, "nope"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("unknown answer: got %v, want ErrNotFound", err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
