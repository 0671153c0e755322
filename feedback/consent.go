package feedback

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/chatloop/chatloop/bot"
)

// The consent records: which group chats were told that reactions are
// collected, and who opted out. The store satisfies bot.ConsentStore.
var _ bot.ConsentStore = (*Store)(nil)

// migrateV4 adds the consent buckets.
func migrateV4(tx *bolt.Tx, _ time.Time) error {
	for _, name := range [][]byte{bucketNotified, bucketOptedOut} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("creating bucket %s: %w", name, err)
		}
	}
	return nil
}

// GroupNotified reports whether the group chat was told that reactions
// are collected.
func (s *Store) GroupNotified(ctx context.Context, platform string, chat bot.ChatID) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketNotified).Get(chatPrefix(platform, string(chat))) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("reading the notice of %s chat %s: %w", platform, chat, err)
	}
	return found, nil
}

// MarkGroupNotified records that the group chat was told.
func (s *Store) MarkGroupNotified(ctx context.Context, platform string, chat bot.ChatID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if platform == "" || chat == "" {
		return fmt.Errorf("%w: a group notice needs a platform and a chat id", ErrInvalid)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNotified).Put(chatPrefix(platform, string(chat)), timeKey(s.now()))
	})
	if err != nil {
		return fmt.Errorf("recording the notice of %s chat %s: %w", platform, chat, err)
	}
	return nil
}

func optOutKey(platform, hash string) []byte { return append(appendPart(nil, platform), hash...) }

// OptedOut reports whether the person sent /optout (and not /optin since).
func (s *Store) OptedOut(ctx context.Context, platform string, user bot.UserID) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if user == "" {
		return false, nil
	}
	key := optOutKey(platform, s.HashUser(platform, user))
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketOptedOut).Get(key) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("reading a %s user's consent: %w", platform, err)
	}
	return found, nil
}

// OptOut records that the person opted out, keyed by their hashed id, and
// forgets their votes and A/B choices (as `feedback forget --user` does
// without --prompts). It returns how many votes and choices went.
func (s *Store) OptOut(ctx context.Context, platform string, user bot.UserID) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if platform == "" || user == "" {
		return 0, fmt.Errorf("%w: opting out needs a platform and a user id", ErrInvalid)
	}
	key := optOutKey(platform, s.HashUser(platform, user))
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOptedOut).Put(key, timeKey(s.now()))
	})
	if err != nil {
		return 0, fmt.Errorf("recording a %s user's opt-out: %w", platform, err)
	}
	f, err := s.Forget(ctx, platform, user, false)
	if err != nil {
		return 0, err
	}
	return f.Votes + f.Choices, nil
}

// OptIn reverses OptOut: the person's later answers and votes are
// recorded again. Forgotten votes stay forgotten.
func (s *Store) OptIn(ctx context.Context, platform string, user bot.UserID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if platform == "" || user == "" {
		return fmt.Errorf("%w: opting in needs a platform and a user id", ErrInvalid)
	}
	key := optOutKey(platform, s.HashUser(platform, user))
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOptedOut).Delete(key)
	})
	if err != nil {
		return fmt.Errorf("recording a %s user's opt-in: %w", platform, err)
	}
	return nil
}
