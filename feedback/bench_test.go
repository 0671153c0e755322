package feedback

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chatloop/chatloop/bot"
)

// runWriters splits b.N calls of write among writers goroutines and
// reports the rate as unit/s.
func runWriters(b *testing.B, writers int, unit string, write func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range writers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := write(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit+"/s")
}

func BenchmarkRecordAnswer(b *testing.B) {
	for _, batch := range []bool{false, true} {
		for _, writers := range []int{1, 8} {
			b.Run(fmt.Sprintf("batch=%v/writers=%d", batch, writers), func(b *testing.B) {
				s := openTest(b, Options{})
				s.batchAnswers = batch
				runWriters(b, writers, "answers", func(i int) error {
					a := answer(fmt.Sprintf("01J%023d", i), "", "discord", fmt.Sprintf("chat-%d", i%20), "asker", t0, "You are chatloop.", "a question of ordinary length, about forty tokens or so, asked in a group chat")
					a.Text = "an answer of ordinary length"
					return s.RecordAnswer(bg, a)
				})
			})
		}
	}
}

func BenchmarkVote(b *testing.B) {
	for _, batch := range []bool{false, true} {
		for _, writers := range []int{1, 8} {
			b.Run(fmt.Sprintf("batch=%v/writers=%d", batch, writers), func(b *testing.B) {
				s := openTest(b, Options{})
				s.batchVotes = batch
				for i := range 100 {
					must(b, s.RecordAnswer(bg, answer(fmt.Sprintf("a%03d", i), "", "discord", "c", "u", t0, "q")))
				}
				runWriters(b, writers, "votes", func(i int) error {
					return s.Vote(bg, bot.AnswerID(fmt.Sprintf("a%03d", i%100)), "discord", bot.UserID(fmt.Sprintf("voter-%d", i)), 1-2*(i%2))
				})
			})
		}
	}
}

// BenchmarkExport exports a store of 100,000 answers (10,000 with -short)
// in groups of three, three quarters of them voted on.
func BenchmarkExport(b *testing.B) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	s := openTest(b, Options{})
	bulkAnswers(b, s, n, 3)
	for _, f := range Formats {
		b.Run(fmt.Sprintf("%s/answers=%d", f, n), func(b *testing.B) {
			rows := 0
			for b.Loop() {
				got, err := s.Export(bg, io.Discard, ExportOptions{Format: f, MinScore: 1})
				must(b, err)
				rows += got
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "answers/s")
		})
	}
}
