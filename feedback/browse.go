package feedback

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/chatloop/chatloop/bot"
)

// Vote filters of AnswerFilter.Vote.
const (
	VoteAny  = ""     // every answer
	VoteUp   = "up"   // net score above zero
	VoteDown = "down" // net score below zero
	VoteNone = "none" // nobody voted
)

// AnswerFilter selects answers for Answers.
type AnswerFilter struct {
	Platform string
	Chat     string
	// Version is a ModelVersion.
	Version string
	// Vote is VoteAny, VoteUp, VoteDown or VoteNone.
	Vote string
	// Since and Until keep answers created in [Since, Until).
	Since, Until time.Time
	// Text keeps answers whose text, prompt or tool rounds (results and
	// call arguments) contain it, ignoring case.
	Text string
	// Before keeps answers whose id sorts before it: the next page after
	// an answer.
	Before string
	// Limit is the most answers returned; zero or less means 50.
	Limit int
}

// AnswerView is an answer with the votes on it.
type AnswerView struct {
	bot.Answer
	Version string
	Up      int
	Down    int
	Votes   []RawVote
}

// Net is up minus down.
func (v AnswerView) Net() int { return v.Up - v.Down }

// Answers lists the answers that f keeps, newest first, and whether more
// follow. It walks the answers from the newest and stops at f.Limit
// matches, so a page costs as much as the answers it has to look at.
func (s *Store) Answers(ctx context.Context, f AnswerFilter) ([]AnswerView, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	switch f.Vote {
	case VoteAny, VoteUp, VoteDown, VoteNone:
	default:
		return nil, false, fmt.Errorf("%w: vote filter %q, want up, down or none", ErrInvalid, f.Vote)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	text := strings.ToLower(f.Text)
	var out []AnswerView
	more := false
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAnswers).Cursor()
		var k, v []byte
		if f.Before != "" {
			k, v = c.Seek([]byte(f.Before))
			if k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		} else {
			k, v = c.Last()
		}
		for n := 0; k != nil; k, v = c.Prev() {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			r, err := decodeAnswer(v)
			if err != nil {
				return fmt.Errorf("answer %q: %w", k, err)
			}
			if !f.keeps(r, text) {
				continue
			}
			view, err := viewOf(tx, r)
			if err != nil {
				return err
			}
			if !f.keepsVotes(view) {
				continue
			}
			if len(out) == limit {
				more = true
				return nil
			}
			out = append(out, view)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("listing answers: %w", err)
	}
	return out, more, nil
}

func (f AnswerFilter) keeps(r *answerRecord, lowerText string) bool {
	switch {
	case f.Platform != "" && r.Platform != f.Platform,
		f.Chat != "" && r.ChatID != f.Chat,
		!f.Since.IsZero() && r.Created.Before(f.Since),
		!f.Until.IsZero() && !r.Created.Before(f.Until),
		f.Version != "" && versionOf(r.Model) != f.Version:
		return false
	}
	if lowerText == "" {
		return true
	}
	if strings.Contains(strings.ToLower(r.Text), lowerText) {
		return true
	}
	for _, t := range r.Prompt {
		if strings.Contains(strings.ToLower(t.Content), lowerText) {
			return true
		}
	}
	for _, t := range r.Steps {
		if strings.Contains(strings.ToLower(t.Content), lowerText) {
			return true
		}
		for _, c := range t.ToolCalls {
			if strings.Contains(strings.ToLower(c.Function.Arguments), lowerText) {
				return true
			}
		}
	}
	return false
}

func (f AnswerFilter) keepsVotes(v AnswerView) bool {
	switch f.Vote {
	case VoteUp:
		return v.Net() > 0
	case VoteDown:
		return v.Net() < 0
	case VoteNone:
		return v.Up+v.Down == 0
	}
	return true
}

// viewOf reads the votes on r.
func viewOf(tx *bolt.Tx, r *answerRecord) (AnswerView, error) {
	view := AnswerView{Answer: r.answer(), Version: versionOf(r.Model)}
	prefix := votePrefix(r.ID)
	c := tx.Bucket(bucketVotes).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		value, at, err := decodeVote(v)
		if err != nil {
			return view, err
		}
		switch value {
		case 1:
			view.Up++
		case -1:
			view.Down++
		}
		view.Votes = append(view.Votes, RawVote{VoterHash: string(k[len(prefix):]), Value: value, Time: at})
	}
	sort.Slice(view.Votes, func(i, j int) bool { return view.Votes[i].Time.Before(view.Votes[j].Time) })
	return view, nil
}

// AnswerWithSiblings reads one answer with its votes, and every other
// answer of its prompt group (regenerations and A/B alternatives of the
// same prompt) with theirs, oldest first.
func (s *Store) AnswerWithSiblings(ctx context.Context, id bot.AnswerID) (AnswerView, []AnswerView, error) {
	if err := ctx.Err(); err != nil {
		return AnswerView{}, nil, err
	}
	var view AnswerView
	var siblings []AnswerView
	err := s.db.View(func(tx *bolt.Tx) error {
		r, err := getAnswer(tx, string(id))
		if err != nil {
			return err
		}
		if view, err = viewOf(tx, r); err != nil {
			return err
		}
		prefix := appendPart(nil, r.GroupID)
		c := tx.Bucket(bucketGroups).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			sid := string(k[len(prefix):])
			if sid == r.ID {
				continue
			}
			sr, err := getAnswer(tx, sid)
			if err != nil {
				return err
			}
			sv, err := viewOf(tx, sr)
			if err != nil {
				return err
			}
			siblings = append(siblings, sv)
		}
		return nil
	})
	if err != nil {
		return AnswerView{}, nil, fmt.Errorf("reading answer %q: %w", id, err)
	}
	return view, siblings, nil
}
