package feedback

import (
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
)

// demoFixture holds one voted sibling pair from each backend: the local
// model, a remote server and the demo echo, all on the same prompt shape.
func demoFixture(t *testing.T) *Store {
	t.Helper()
	clock := &fakeClock{t: t0}
	s := openTest(t, Options{Now: clock.now})
	models := map[string]bot.ModelInfo{
		"local":  {Backend: "local", Name: "qwen2.5-0.5b-instruct", Quantization: "Q8_0"},
		"openai": {Backend: "openai", Name: "llama3.1:8b"},
		"demo":   {Backend: "demo", Name: "demo-echo"},
	}
	for i, backend := range []string{"local", "openai", "demo"} {
		for j, v := range []int{1, -1} {
			id := backend + string(rune('a'+j))
			a := answer(id, "g-"+backend, "discord", "chat-1", "u0", t0.Add(time.Duration(i*10+j)*time.Minute), "sys", "question from "+backend)
			a.Model = models[backend]
			must(t, s.RecordAnswer(bg, a))
			a.Text, a.Finished = "answer "+id, true
			must(t, s.FinishAnswer(bg, a))
			must(t, s.Vote(bg, a.ID, "discord", "u1", v))
		}
	}
	return s
}

// TestDemoAnswersLeftOut is issue 15's item 6: demo answers stay out of
// every export format and of the stats unless asked for; exports filter
// by model and backend.
func TestDemoAnswersLeftOut(t *testing.T) {
	s := demoFixture(t)
	count := func(o ExportOptions) int { return len(lines(exportString(t, s, o))) }
	cases := []struct {
		name string
		o    ExportOptions
		want int
	}{
		{"preference", ExportOptions{Format: FormatPreference}, 2},
		{"preference with demo", ExportOptions{Format: FormatPreference, IncludeDemo: true}, 3},
		{"kto", ExportOptions{Format: FormatKTO}, 4},
		{"kto with demo", ExportOptions{Format: FormatKTO, IncludeDemo: true}, 6},
		{"sft", ExportOptions{Format: FormatSFT, MinScore: 1}, 2},
		{"sft with demo", ExportOptions{Format: FormatSFT, MinScore: 1, IncludeDemo: true}, 3},
		{"raw", ExportOptions{Format: FormatRaw}, 4},
		{"raw with demo", ExportOptions{Format: FormatRaw, IncludeDemo: true}, 6},
		{"backend local", ExportOptions{Format: FormatKTO, Backend: "local"}, 2},
		{"backend openai", ExportOptions{Format: FormatPreference, Backend: "openai"}, 1},
		{"backend demo asks for demo", ExportOptions{Format: FormatKTO, Backend: "demo"}, 2},
		{"model by name", ExportOptions{Format: FormatKTO, Model: "llama3.1:8b"}, 2},
		{"model by name and quantization", ExportOptions{Format: FormatRaw, Model: "qwen2.5-0.5b-instruct Q8_0"}, 2},
		{"model unknown", ExportOptions{Format: FormatRaw, Model: "gpt-9"}, 0},
		{"model demo without include-demo", ExportOptions{Format: FormatRaw, Model: "demo-echo"}, 0},
	}
	for _, c := range cases {
		if got := count(c.o); got != c.want {
			t.Errorf("%s: %d rows, want %d", c.name, got, c.want)
		}
	}

	st, err := s.Stats(bg)
	must(t, err)
	if st.Answers != 4 || st.Votes != 4 || st.Pairs != 2 || st.KTORows != 4 || st.DemoAnswers != 2 {
		t.Errorf("stats: %d answers, %d votes, %d pairs, %d KTO rows, %d demo answers left out; want 4, 4, 2, 4, 2", st.Answers, st.Votes, st.Pairs, st.KTORows, st.DemoAnswers)
	}
	for _, r := range st.ByModel {
		if r.Key == "demo-echo" {
			t.Errorf("demo model in stats by model: %+v", st.ByModel)
		}
	}
	st, err = s.StatsWith(bg, StatsOptions{IncludeDemo: true})
	must(t, err)
	if st.Answers != 6 || st.Votes != 6 || st.Pairs != 3 || st.DemoAnswers != 0 {
		t.Errorf("stats with demo: %d answers, %d votes, %d pairs, %d demo left out; want 6, 6, 3, 0", st.Answers, st.Votes, st.Pairs, st.DemoAnswers)
	}
}
