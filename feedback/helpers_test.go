package feedback

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/chatloop/chatloop/bot"
)

// openTest opens a new store in a temporary directory and, at cleanup,
// runs bbolt's consistency check on it before closing it.
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "feedback.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		checkConsistent(t, s)
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// checkConsistent runs bbolt's consistency check (Tx.Check).
func checkConsistent(t testing.TB, s *Store) {
	t.Helper()
	err := s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("consistency check: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Errorf("consistency check: %v", err)
	}
}

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func answer(id, group, platform, chat, asker string, created time.Time, prompt ...string) bot.Answer {
	a := bot.Answer{
		ID: bot.AnswerID(id), GroupID: bot.GroupID(group), Platform: platform,
		ChatID: bot.ChatID(chat), AskerID: bot.UserID(asker), Created: created,
		Sampling: bot.Sampling{Temperature: 0.7, TopP: 0.9, Seed: 42},
		Model:    bot.ModelInfo{Backend: "local", Name: "qwen2.5-0.5b-instruct", SHA256: "ab12", Quantization: "Q8_0", Template: "chatml"},
		Sent:     true,
	}
	// One string is a user turn; more are a system turn, then user and
	// assistant turns alternating.
	for i, p := range prompt {
		role := bot.RoleUser
		switch {
		case len(prompt) > 1 && i == 0:
			role = bot.RoleSystem
		case len(prompt) > 1 && i%2 == 0:
			role = bot.RoleAssistant
		}
		a.Prompt = append(a.Prompt, bot.Turn{Role: role, Content: p})
	}
	return a
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var bg = context.Background()

// bulkAnswers writes n answers in groups of size siblings, a few
// thousand a transaction, each with a prompt of a few turns, and votes on most of
// them: a quick way to a big store.
func bulkAnswers(t testing.TB, s *Store, n, siblings int) {
	t.Helper()
	const perTx = 2000 // bbolt slows down on huge transactions
	for from := 0; from < n; from += perTx {
		bulkRange(t, s, from, min(from+perTx, n), siblings)
	}
}

func bulkRange(t testing.TB, s *Store, from, to, siblings int) {
	must(t, s.db.Update(func(tx *bolt.Tx) error {
		for i := from; i < to; i++ {
			id := fmt.Sprintf("01J%023d", i)
			group := fmt.Sprintf("g%d", i/siblings)
			a := answer(id, group, "discord", fmt.Sprintf("chat-%d", i%50), "asker", t0.Add(time.Duration(i)*time.Second),
				"You are chatloop, a helpful assistant in a group chat. Answer briefly.",
				fmt.Sprintf("question number %d: what is the best way to learn Go?", i/siblings))
			r := &answerRecord{
				ID: id, GroupID: group, Platform: a.Platform, ChatID: string(a.ChatID),
				AskerHash: s.HashUser("discord", "asker"), Created: a.Created, Prompt: a.Prompt,
				Text:     fmt.Sprintf("Answer %d: read the tour, then write a small program every day.", i),
				Sampling: sampling(a.Sampling), Model: modelInfo(a.Model), Finished: true, Sent: true,
			}
			if err := insertAnswer(tx, r, []string{"m" + id}); err != nil {
				return err
			}
			if i%4 != 3 {
				v := encodeVote(1-2*(i%3%2), t0)
				if err := tx.Bucket(bucketVotes).Put(voteKey(id, s.HashUser("discord", "voter")), v); err != nil {
					return err
				}
			}
		}
		return nil
	}))
}
