package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// bigStore records n answers on three platforms and two model versions,
// in prompt groups of two, with a vote on three of every four, spread
// over 60 days: a busy bot's database.
func bigStore(b *testing.B, n int) *feedback.Store {
	b.Helper()
	s, err := feedback.Open(filepath.Join(b.TempDir(), "big.db"), feedback.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	platforms := []string{"discord", "wechat", "wecom"}
	versions := []bot.ModelInfo{
		{Backend: "local", Name: "qwen2.5-0.5b-instruct", Quantization: "Q8_0", SHA256: "3f2a9c0d11e4aaaa"},
		{Backend: "local", Name: "qwen2.5-0.5b-instruct", Quantization: "Q8_0", SHA256: "77aa11bb22cc0000"},
	}
	system := "You are a helpful assistant in a group chat. Answer concisely, in the language of the question."
	type vote struct {
		id       bot.AnswerID
		platform string
		voter    bot.UserID
		value    int
	}
	var votes []vote
	for i := range n {
		id := bot.AnswerID(fmt.Sprintf("01J%023d", i))
		a := bot.Answer{
			ID: id, GroupID: bot.GroupID(fmt.Sprintf("g%d", i/2)), Platform: platforms[i%3],
			ChatID: bot.ChatID(fmt.Sprintf("chat-%d", i%40)), AskerID: bot.UserID(fmt.Sprintf("u%d", i%300)),
			Created: t0.Add(time.Duration(i) * 60 * 24 * time.Hour / time.Duration(n)),
			Prompt: []bot.Turn{{Role: bot.RoleSystem, Content: system},
				{Role: bot.RoleUser, Content: fmt.Sprintf("Question %d: how do I keep a sourdough starter alive while travelling?", i/2)}},
			Text:  fmt.Sprintf("Answer %d: feed it, refrigerate it, and feed it again the day you are back; a dried starter keeps for months.", i),
			Model: versions[(i/1000)%2], Finished: true, Sent: true, AnswerTokens: 30, PromptTokens: 60,
		}
		if err := s.RecordAnswer(ctx, a); err != nil {
			b.Fatal(err)
		}
		if i%4 != 3 {
			votes = append(votes, vote{id, a.Platform, bot.UserID(fmt.Sprintf("v%d", i%500)), 1 - 2*(i%3%2)})
		}
	}
	// Votes from many goroutines at once share transactions (bbolt's
	// Batch), as they do when many people vote.
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	const workers = 256
	for w := range workers {
		wg.Go(func() {
			for j := w; j < len(votes); j += workers {
				v := votes[j]
				if err := s.Vote(ctx, v.id, v.platform, v.voter, v.value); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	return s
}

// benchAnswers is the size of the benchmarks' database.
var benchAnswers = benchSize()

// BenchmarkOverview renders the overview page over 100,000 answers (the
// target is under 300 ms).
func BenchmarkOverview(b *testing.B) {
	s := bigStore(b, benchAnswers)
	srv, err := New(Options{Store: s})
	if err != nil {
		b.Fatal(err)
	}
	cpu := cpuTime()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), fmt.Sprint(benchAnswers)) {
			b.Fatalf("overview: %d", rec.Code)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkAnswersPage renders the first page of answers, and a text
// search that has to look through all of them.
func BenchmarkAnswersPage(b *testing.B) {
	s := bigStore(b, benchAnswers)
	srv, err := New(Options{Store: s})
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{"", "q=no-such-text"} {
		b.Run("query="+q, func(b *testing.B) {
			cpu := cpuTime()
			for b.Loop() {
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/answers?"+q, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("answers: %d", rec.Code)
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// benchSize is 100,000, or CHATLOOP_BENCH_ANSWERS when set (profiling).
func benchSize() int {
	if n, err := strconv.Atoi(os.Getenv("CHATLOOP_BENCH_ANSWERS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// reportCPU reports the CPU time per operation since start (all threads,
// garbage collection included) as cpu-ms/op.
func reportCPU(b *testing.B, start time.Duration) {
	if end := cpuTime(); end > 0 {
		b.ReportMetric(float64(end-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	}
}
