package wechat

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
)

// testStore is the feedback store the end-to-end test runs on, with a way
// to read a vote back.
type testStore interface {
	bot.FeedbackStore
	voteOf(id bot.AnswerID, voter bot.UserID) (int, bool)
}

// memStore keeps answers and votes in memory.
type memStore struct {
	mu      sync.Mutex
	answers map[bot.AnswerID]bot.Answer
	msgs    map[string]bot.AnswerID
	votes   map[bot.AnswerID]map[bot.UserID]int
}

func openTestStore(t *testing.T, _ string) testStore {
	t.Helper()
	return &memStore{answers: map[bot.AnswerID]bot.Answer{}, msgs: map[string]bot.AnswerID{}, votes: map[bot.AnswerID]map[bot.UserID]int{}}
}

func (s *memStore) RecordAnswer(_ context.Context, a bot.Answer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[a.ID] = a
	return nil
}

func (s *memStore) FinishAnswer(_ context.Context, a bot.Answer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[a.ID] = a
	return nil
}

func (s *memStore) MapMessage(_ context.Context, platform string, msg bot.MessageID, id bot.AnswerID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs[platform+"\x00"+string(msg)] = id
	return nil
}

func (s *memStore) AnswerByMessage(_ context.Context, platform string, msg bot.MessageID) (bot.AnswerID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.msgs[platform+"\x00"+string(msg)]
	if !ok {
		return "", fmt.Errorf("message %s: %w", msg, bot.ErrNotFound)
	}
	return id, nil
}

func (s *memStore) Answer(_ context.Context, id bot.AnswerID) (bot.Answer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.answers[id]
	if !ok {
		return a, fmt.Errorf("answer %s: %w", id, bot.ErrNotFound)
	}
	return a, nil
}

func (s *memStore) Vote(_ context.Context, id bot.AnswerID, _ string, voter bot.UserID, value int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.answers[id]; !ok {
		return bot.ErrNotFound
	}
	if s.votes[id] == nil {
		s.votes[id] = map[bot.UserID]int{}
	}
	s.votes[id][voter] = value
	return nil
}

func (s *memStore) Choose(context.Context, bot.AnswerID, bot.AnswerID, string, bot.UserID) error {
	return nil
}

func (s *memStore) RecentAnswers(_ context.Context, platform string, chat bot.ChatID, asker bot.UserID, since time.Time, limit int) ([]bot.Answer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []bot.Answer
	for _, a := range s.answers {
		if a.Platform == platform && a.ChatID == chat && (asker == "" || a.AskerID == asker) && !a.Created.Before(since) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b bot.Answer) int { return b.Created.Compare(a.Created) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *memStore) voteOf(id bot.AnswerID, voter bot.UserID) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.votes[id][voter]
	return v, ok
}
