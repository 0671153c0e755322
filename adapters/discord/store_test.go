package discord

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
)

// memStore is a temporary in-memory bot.FeedbackStore until the feedback
// package lands.
type memStore struct {
	mu      sync.Mutex
	answers map[bot.AnswerID]bot.Answer
	byMsg   map[string]bot.AnswerID
	votes   map[string]int
}

func openTestStore(t *testing.T) (bot.FeedbackStore, func(bot.AnswerID, string) (int, bool)) {
	s := &memStore{answers: map[bot.AnswerID]bot.Answer{}, byMsg: map[string]bot.AnswerID{}, votes: map[string]int{}}
	return s, func(id bot.AnswerID, voter string) (int, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		v, ok := s.votes[string(id)+"/"+voter]
		return v, ok
	}
}

func (s *memStore) RecordAnswer(ctx context.Context, a bot.Answer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[a.ID] = a
	return nil
}
func (s *memStore) FinishAnswer(ctx context.Context, a bot.Answer) error {
	return s.RecordAnswer(ctx, a)
}
func (s *memStore) MapMessage(ctx context.Context, p string, m bot.MessageID, id bot.AnswerID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byMsg[p+"/"+string(m)] = id
	return nil
}
func (s *memStore) AnswerByMessage(ctx context.Context, p string, m bot.MessageID) (bot.AnswerID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byMsg[p+"/"+string(m)]
	if !ok {
		return "", fmt.Errorf("message %s: %w", m, bot.ErrNotFound)
	}
	return id, nil
}
func (s *memStore) Answer(ctx context.Context, id bot.AnswerID) (bot.Answer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.answers[id]
	if !ok {
		return a, bot.ErrNotFound
	}
	return a, nil
}
func (s *memStore) Vote(ctx context.Context, id bot.AnswerID, p string, voter bot.UserID, v int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v == 0 {
		delete(s.votes, string(id)+"/"+string(voter))
	} else {
		s.votes[string(id)+"/"+string(voter)] = v
	}
	return nil
}
func (s *memStore) Choose(ctx context.Context, w, l bot.AnswerID, p string, voter bot.UserID) error {
	return nil
}
func (s *memStore) RecentAnswers(ctx context.Context, p string, chat bot.ChatID, asker bot.UserID, since time.Time, limit int) ([]bot.Answer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []bot.Answer
	for _, a := range s.answers {
		if a.ChatID == chat && !a.Created.Before(since) && (asker == "" || a.AskerID == asker) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b bot.Answer) int { return b.Created.Compare(a.Created) })
	return out[:min(limit, len(out))], nil
}
