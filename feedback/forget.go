package feedback

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/chatloop/chatloop/bot"
)

// Forgotten says what Forget removed.
type Forgotten struct {
	Votes   int `json:"votes"`
	Choices int `json:"choices"`
	// Answers counts the answers to the person's questions removed (with
	// their votes, choices and message mappings); only with prompts.
	Answers int `json:"answers"`
	// OtherVotes counts other people's votes removed with those answers.
	OtherVotes int `json:"other_votes"`
	// Known is true when the id was found in the database at all: as a
	// voter, a chooser or an asker. False means it matches nobody,
	// usually an id written in a form the platform's adapter does not
	// store.
	Known bool `json:"known"`
}

// Forget removes everything a person gave: their votes and A/B choices,
// and with prompts also the answers to their questions (which hold their
// words in the prompt), with everything attached to those answers. It is
// the answer to a privacy request and runs in one transaction.
func (s *Store) Forget(ctx context.Context, platform string, user bot.UserID, prompts bool) (Forgotten, error) {
	var f Forgotten
	if err := ctx.Err(); err != nil {
		return f, err
	}
	if platform == "" || user == "" {
		return f, fmt.Errorf("%w: forget needs a platform and a user id", ErrInvalid)
	}
	hash := s.HashUser(platform, user)
	err := s.db.Update(func(tx *bolt.Tx) error {
		f = Forgotten{}
		// Votes: keys are part(answer id) voter hash.
		var dead [][]byte
		c := tx.Bucket(bucketVotes).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			_, voter, err := readPart(k)
			if err != nil {
				return err
			}
			if string(voter) == hash {
				dead = append(dead, bytes.Clone(k))
			}
		}
		for _, k := range dead {
			if err := tx.Bucket(bucketVotes).Delete(k); err != nil {
				return err
			}
		}
		f.Votes = len(dead)
		if _, err := deleteVoteLog(tx, "", hash); err != nil {
			return err
		}

		dead = dead[:0]
		err := forEachChoiceKey(tx, func(k []byte, a, b, voter string) {
			if voter == hash {
				dead = append(dead, bytes.Clone(k))
			}
		})
		if err != nil {
			return err
		}
		for _, k := range dead {
			if err := tx.Bucket(bucketChoices).Delete(k); err != nil {
				return err
			}
		}
		f.Choices = len(dead)
		f.Known = f.Votes > 0 || f.Choices > 0
		if f.Known && !prompts {
			return nil
		}

		var victims []*answerRecord
		ac := tx.Bucket(bucketAnswers).Cursor()
		for k, v := ac.First(); k != nil; k, v = ac.Next() {
			r, err := decodeAnswer(v)
			if err != nil {
				return fmt.Errorf("answer %q: %w", k, err)
			}
			if r.Platform == platform && r.AskerHash == hash {
				f.Known = true
				if !prompts {
					return nil // known, and nothing more to do
				}
				victims = append(victims, r)
			}
		}
		for _, r := range victims {
			n, c, err := deleteAnswer(tx, r)
			if err != nil {
				return err
			}
			f.OtherVotes += n
			f.Choices += c
		}
		f.Answers = len(victims)
		return nil
	})
	if err != nil {
		return Forgotten{}, fmt.Errorf("forgetting a %s user: %w", platform, err)
	}
	return f, nil
}

func forEachChoiceKey(tx *bolt.Tx, fn func(k []byte, a, b, voter string)) error {
	c := tx.Bucket(bucketChoices).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		a, rest, err := readPart(k)
		if err != nil {
			return err
		}
		b, voter, err := readPart(rest)
		if err != nil {
			return err
		}
		fn(k, a, b, string(voter))
	}
	return nil
}

// deleteAnswer removes an answer, its index entries, the votes on it and
// the choices it takes part in, returning how many votes and choices went.
func deleteAnswer(tx *bolt.Tx, r *answerRecord) (votes, choices int, err error) {
	if err := tx.Bucket(bucketAnswers).Delete([]byte(r.ID)); err != nil {
		return 0, 0, err
	}
	for _, m := range r.MessageIDs {
		if err := tx.Bucket(bucketMessages).Delete(messageKey(r.Platform, m)); err != nil {
			return 0, 0, err
		}
	}
	if err := tx.Bucket(bucketChats).Delete(chatKey(r.Platform, r.ChatID, r.Created, r.ID)); err != nil {
		return 0, 0, err
	}
	if err := tx.Bucket(bucketGroups).Delete(groupKey(r.GroupID, r.ID)); err != nil {
		return 0, 0, err
	}
	if _, err := deleteVoteLog(tx, r.ID, ""); err != nil {
		return 0, 0, err
	}
	prefix := votePrefix(r.ID)
	var dead [][]byte
	c := tx.Bucket(bucketVotes).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		dead = append(dead, bytes.Clone(k))
	}
	for _, k := range dead {
		if err := tx.Bucket(bucketVotes).Delete(k); err != nil {
			return 0, 0, err
		}
	}
	votes = len(dead)
	dead = dead[:0]
	err = forEachChoiceKey(tx, func(k []byte, a, b, _ string) {
		if a == r.ID || b == r.ID {
			dead = append(dead, bytes.Clone(k))
		}
	})
	if err != nil {
		return 0, 0, err
	}
	for _, k := range dead {
		if err := tx.Bucket(bucketChoices).Delete(k); err != nil {
			return 0, 0, err
		}
	}
	return votes, len(dead), nil
}
