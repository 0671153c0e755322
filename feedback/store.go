// Package feedback stores every answer the bot gives, every vote on it and
// every A/B choice between alternatives in a bbolt file, and exports them as
// training data for reward models in Hugging Face TRL's formats.
//
// An answer is recorded before it is sent, so a vote can never arrive for an
// unknown answer. People are never stored by their platform ids: voter and
// asker ids are replaced by an HMAC-SHA256 under a random secret that each
// database creates for itself.
//
// bbolt lets one process hold the file. Serve answers the read-only
// commands (stats, export, backup) and forget for other processes over a
// local socket while the bot runs; Dial is the other end.
package feedback

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/model/chat"
)

// Errors callers can check with errors.Is.
var (
	// ErrLocked means another process holds the database file.
	ErrLocked = errors.New("feedback database is locked")
	// ErrNewerSchema means the file was written by a newer chatloop.
	ErrNewerSchema = errors.New("feedback database is newer than this chatloop")
	// ErrCorrupt means a stored record could not be read.
	ErrCorrupt = errors.New("feedback database record is corrupt")
	// ErrExists means an answer with the same id is already stored.
	ErrExists = errors.New("answer already recorded")
	// ErrInvalid means an argument is out of range (a vote of 2, an empty
	// answer id). It matches bot.ErrVoteRefused: a vote refused for it is
	// not a store failure.
	ErrInvalid error = voterError("invalid feedback")
)

// voterError is an error caused by what the voter (or caller) asked for,
// not by the store: errors.Is matches it to bot.ErrVoteRefused.
type voterError string

func (e voterError) Error() string { return string(e) }

// Is makes errors.Is(err, bot.ErrVoteRefused) true.
func (e voterError) Is(target error) bool { return target == bot.ErrVoteRefused }

// batchDelay is the longest a vote waits for others to share its
// transaction.
const batchDelay = 2 * time.Millisecond

// initialMmapSize is how much of the file is mapped ahead of its size.
const initialMmapSize = 1 << 30

// growStep is how much the file grows at a time.
const growStep = 1 << 20

// DefaultTimeout is how long Open waits for another process to release the
// file when Options.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// Options configure Open.
type Options struct {
	// Timeout is how long to wait for the file lock; zero or less means
	// DefaultTimeout. Open never waits forever.
	Timeout time.Duration
	// ReadOnly opens the file for reading only (it must exist and be at
	// the current schema version). Several read-only openers may share it.
	ReadOnly bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxVotesPerMinute caps the votes and A/B choices one person casts a
	// minute (a burst of as many, then one every 60/n seconds); beyond it
	// Vote and Choose return ErrRateLimited and store nothing. 0: no cap.
	MaxVotesPerMinute int
	// NoSync skips the fsync after each write: much faster bulk loads
	// (tests, benchmarks, imports), but a crash may lose or corrupt what
	// was written. Never for a bot's live database.
	NoSync bool
}

// Store is an open feedback database. It is safe for concurrent use.
type Store struct {
	db     guardedDB
	secret []byte
	now    func() time.Time
	path   string
	votes  *voteLimiter

	// batchVotes and batchAnswers choose bbolt's Batch (which coalesces
	// concurrent writers into one transaction) over Update for votes and
	// choices, and for answers and message maps. Benchmarks flip them.
	batchVotes   bool
	batchAnswers bool
}

var _ bot.FeedbackStore = (*Store)(nil)

// Open opens the database at path, creating it (mode 0600, every bucket
// and a new hashing secret in one transaction) when it does not exist, and
// migrating it to the current schema. If another process holds the file,
// Open fails after opts.Timeout with an error wrapping ErrLocked.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	bopts := &bolt.Options{Timeout: timeout, ReadOnly: opts.ReadOnly}
	if !opts.ReadOnly && runtime.GOOS != "windows" && strconv.IntSize == 64 {
		// bbolt must remap the file to grow it, and a remap waits for every
		// read transaction to end: without room mapped ahead, a vote
		// arriving during a long export would wait for the export.
		// Mapping ahead costs address space only (Windows would grow the
		// file to the mapped size, so not there).
		bopts.InitialMmapSize = initialMmapSize
	}
	db, err := openGuarded(path, bopts)
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("opening %s: %w: another process (probably a running `chatloop run`) holds it; waited %s", path, ErrLocked, timeout)
		}
		return nil, fmt.Errorf("opening feedback database %s: %w", path, err)
	}
	// Batch waits this long for more writers to join a transaction. bbolt's
	// default, 10 ms, caps a lone voter at about 65 votes/s and eight at
	// about 450/s on a disk that syncs in a millisecond or two; 2 ms keeps
	// the coalescing and most of the single-writer speed.
	db.MaxBatchDelay = batchDelay
	db.NoSync = opts.NoSync
	if bopts.InitialMmapSize > 0 {
		// bbolt grows a file mapped beyond 16 MiB (its AllocSize) in
		// AllocSize steps; a smaller step keeps a small database small.
		db.AllocSize = growStep
	}
	s := &Store{db: guardedDB{db, path}, now: now, path: path, batchVotes: true, votes: newVoteLimiter(opts.MaxVotesPerMinute, now)}
	if opts.ReadOnly {
		err = s.db.View(func(tx *bolt.Tx) error {
			v, err := schemaVersion(tx)
			if err != nil {
				return err
			}
			if v != SchemaVersion {
				return fmt.Errorf("%s has schema version %d, want %d: open it once read-write to migrate it", path, v, SchemaVersion)
			}
			return nil
		})
	} else {
		err = s.db.Update(func(tx *bolt.Tx) error { return migrate(tx, now()) })
	}
	if err == nil {
		err = s.db.View(func(tx *bolt.Tx) error {
			secret := tx.Bucket(bucketMeta).Get(keySecret)
			if len(secret) < 16 {
				return fmt.Errorf("%w: hashing secret is missing", ErrCorrupt)
			}
			s.secret = bytes.Clone(secret)
			return nil
		})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening feedback database %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database file.
func (s *Store) Close() error { return s.db.Close() }

// Path is the file the store was opened from.
func (s *Store) Path() string { return s.path }

func newSecret() ([]byte, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("making the hashing secret: %w", err)
	}
	return secret, nil
}

// HashUser returns the keyed hash under which the store keeps the person
// with the given platform id (hex HMAC-SHA256 of platform+":"+id). An empty
// id hashes to "".
func (s *Store) HashUser(platform string, id bot.UserID) string {
	if id == "" {
		return ""
	}
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(platform + ":" + string(id)))
	return hex.EncodeToString(m.Sum(nil))
}

// answerRecord is the stored form of an answer. It is separate from
// bot.Answer so that the file format changes only with SchemaVersion.
type answerRecord struct {
	ID        string     `json:"id"`
	GroupID   string     `json:"group_id"`
	Platform  string     `json:"platform"`
	ChatID    string     `json:"chat_id"`
	AskerHash string     `json:"asker_hash,omitempty"`
	Created   time.Time  `json:"created"`
	Prompt    []bot.Turn `json:"prompt"`
	// Tools and Steps are the tools offered and the tool rounds (see
	// bot.Answer); absent for plain chat and in records from before tool
	// calling, which read as plain answers.
	Tools      []chat.Tool `json:"tools,omitempty"`
	Steps      []bot.Turn  `json:"steps,omitempty"`
	Text       string      `json:"text"`
	Label      string      `json:"label,omitempty"`
	Sampling   sampling    `json:"sampling"`
	Model      modelInfo   `json:"model"`
	PromptTok  int         `json:"prompt_tokens"`
	AnswerTok  int         `json:"answer_tokens"`
	LatencyNS  int64       `json:"latency_ns"`
	Truncated  bool        `json:"truncated"`
	Finished   bool        `json:"finished"`
	Score      *float64    `json:"score,omitempty"`
	Sent       bool        `json:"sent"`
	MessageIDs []string    `json:"message_ids,omitempty"`
	FinishedAt *time.Time  `json:"finished_at,omitempty"`
}

type sampling struct {
	Temperature   float64 `json:"temperature"`
	TopK          int     `json:"top_k"`
	TopP          float64 `json:"top_p"`
	MinP          float64 `json:"min_p"`
	RepeatPenalty float64 `json:"repeat_penalty"`
	Seed          uint64  `json:"seed"`
}

type modelInfo struct {
	Backend      string `json:"backend"`
	Name         string `json:"name"`
	SHA256       string `json:"sha256,omitempty"`
	Quantization string `json:"quantization,omitempty"`
	Template     string `json:"template,omitempty"`
	// Adapters are the LoRA adapters served with the base (none: the
	// base alone).
	Adapters []bot.AdapterVersion `json:"adapters,omitempty"`
}

func (r *answerRecord) answer() bot.Answer {
	a := bot.Answer{
		ID:           bot.AnswerID(r.ID),
		GroupID:      bot.GroupID(r.GroupID),
		Platform:     r.Platform,
		ChatID:       bot.ChatID(r.ChatID),
		AskerID:      bot.UserID(r.AskerHash),
		Created:      r.Created,
		Prompt:       make([]bot.Turn, len(r.Prompt)),
		Tools:        r.Tools,
		Steps:        r.Steps,
		Text:         r.Text,
		Label:        r.Label,
		Sampling:     bot.Sampling(r.Sampling),
		Model:        bot.ModelInfo(r.Model),
		PromptTokens: r.PromptTok,
		AnswerTokens: r.AnswerTok,
		Latency:      time.Duration(r.LatencyNS),
		Truncated:    r.Truncated,
		Finished:     r.Finished,
		Score:        r.Score,
		Sent:         r.Sent,
	}
	for i, t := range r.Prompt {
		a.Prompt[i] = bot.Turn(t)
	}
	for _, m := range r.MessageIDs {
		a.MessageIDs = append(a.MessageIDs, bot.MessageID(m))
	}
	return a
}

func (s *Store) update(batch bool, fn func(tx *bolt.Tx) error) error {
	if batch {
		return s.db.Batch(fn)
	}
	return s.db.Update(fn)
}

func getAnswer(tx *bolt.Tx, id string) (*answerRecord, error) {
	v := tx.Bucket(bucketAnswers).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("answer %q: %w", id, bot.ErrNotFound)
	}
	return decodeAnswer(v)
}

func decodeAnswer(v []byte) (*answerRecord, error) {
	var r answerRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("%w: answer: %v", ErrCorrupt, err)
	}
	return &r, nil
}

// putAnswer writes r and its summary.
func putAnswer(tx *bolt.Tx, r *answerRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding answer %q: %w", r.ID, err)
	}
	if err := tx.Bucket(bucketAnswers).Put([]byte(r.ID), v); err != nil {
		return err
	}
	return putSummary(tx, r)
}

// mapMessages indexes every message id of r not yet indexed and adds it to
// r.MessageIDs. A message already mapped to another answer is an error.
func mapMessages(tx *bolt.Tx, r *answerRecord, msgs []string) error {
	b := tx.Bucket(bucketMessages)
	for _, m := range msgs {
		if m == "" {
			return fmt.Errorf("%w: empty message id", ErrInvalid)
		}
		k := messageKey(r.Platform, m)
		if old := b.Get(k); old != nil && string(old) != r.ID {
			return fmt.Errorf("%w: %s message %q already shows answer %q", ErrInvalid, r.Platform, m, old)
		}
		if err := b.Put(k, []byte(r.ID)); err != nil {
			return err
		}
		if !slices.Contains(r.MessageIDs, m) {
			r.MessageIDs = append(r.MessageIDs, m)
		}
	}
	return nil
}

func messageStrings(ids []bot.MessageID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// RecordAnswer stores a new answer before it is sent. a.ID (time-sortable,
// made by the caller) and a.Platform are required; an empty GroupID makes
// the answer its own group and a zero Created means now. The asker is
// stored as a keyed hash. An id already stored gives ErrExists.
func (s *Store) RecordAnswer(ctx context.Context, a bot.Answer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if a.ID == "" || a.Platform == "" {
		return fmt.Errorf("%w: an answer needs an id and a platform", ErrInvalid)
	}
	if a.GroupID == "" {
		a.GroupID = bot.GroupID(a.ID)
	}
	if a.Created.IsZero() {
		a.Created = s.now()
	}
	r := &answerRecord{
		ID:        string(a.ID),
		GroupID:   string(a.GroupID),
		Platform:  a.Platform,
		ChatID:    string(a.ChatID),
		AskerHash: s.HashUser(a.Platform, a.AskerID),
		Created:   a.Created.UTC(),
		Prompt:    a.Prompt,
		Tools:     a.Tools,
		Steps:     a.Steps,
		Text:      a.Text,
		Label:     a.Label,
		Sampling:  sampling(a.Sampling),
		Model:     modelInfo(a.Model),
		PromptTok: a.PromptTokens,
		AnswerTok: a.AnswerTokens,
		LatencyNS: int64(a.Latency),
		Truncated: a.Truncated,
		Finished:  a.Finished,
		Score:     a.Score,
		Sent:      a.Sent,
	}
	msgs := messageStrings(a.MessageIDs)
	return s.update(s.batchAnswers, func(tx *bolt.Tx) error {
		rec := *r // Batch may run this function twice
		return insertAnswer(tx, &rec, msgs)
	})
}

// insertAnswer stores a new answer record with its index entries.
func insertAnswer(tx *bolt.Tx, r *answerRecord, msgs []string) error {
	if tx.Bucket(bucketAnswers).Get([]byte(r.ID)) != nil {
		return fmt.Errorf("recording answer %q: %w", r.ID, ErrExists)
	}
	r.MessageIDs = nil
	if err := mapMessages(tx, r, msgs); err != nil {
		return fmt.Errorf("recording answer %q: %w", r.ID, err)
	}
	if err := putAnswer(tx, r); err != nil {
		return err
	}
	return tx.Bucket(bucketChats).Put(chatKey(r.Platform, r.ChatID, r.Created, r.ID), nil)
}

// FinishAnswer stores the final text and statistics of an answer recorded
// earlier: text, tool steps and tools (when given), token counts, latency, the truncated, finished and sent
// flags, score, model (when given) and any new message ids. The id, group,
// chat, asker, prompt and creation time stay as recorded.
func (s *Store) FinishAnswer(ctx context.Context, a bot.Answer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	msgs := messageStrings(a.MessageIDs)
	at := s.now().UTC()
	return s.update(s.batchAnswers, func(tx *bolt.Tx) error {
		r, err := getAnswer(tx, string(a.ID))
		if err != nil {
			return fmt.Errorf("finishing answer: %w", err)
		}
		r.Text = a.Text
		if a.Steps != nil {
			// The tool rounds ran between recording and finishing.
			r.Steps = a.Steps
		}
		if a.Tools != nil {
			r.Tools = a.Tools
		}
		r.PromptTok, r.AnswerTok = a.PromptTokens, a.AnswerTokens
		r.LatencyNS = int64(a.Latency)
		r.Truncated, r.Finished, r.Sent = a.Truncated, a.Finished, a.Sent
		r.Score = a.Score
		if !a.Model.IsZero() {
			r.Model = modelInfo(a.Model)
		}
		if a.Sampling != (bot.Sampling{}) {
			// A backend may have used fewer parameters than were asked for.
			r.Sampling = sampling(a.Sampling)
		}
		r.FinishedAt = &at
		if err := mapMessages(tx, r, msgs); err != nil {
			return fmt.Errorf("finishing answer %q: %w", r.ID, err)
		}
		return putAnswer(tx, r)
	})
}

// MapMessage records that platform message msg shows answer id (one of
// possibly several messages an answer is split into).
func (s *Store) MapMessage(ctx context.Context, platform string, msg bot.MessageID, id bot.AnswerID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.update(s.batchAnswers, func(tx *bolt.Tx) error {
		r, err := getAnswer(tx, string(id))
		if err != nil {
			return fmt.Errorf("mapping message: %w", err)
		}
		if r.Platform != platform {
			return fmt.Errorf("%w: answer %q is on %s, not %s", ErrInvalid, id, r.Platform, platform)
		}
		if err := mapMessages(tx, r, []string{string(msg)}); err != nil {
			return fmt.Errorf("mapping message: %w", err)
		}
		return putAnswer(tx, r)
	})
}

// AnswerByMessage finds the answer a platform message shows.
func (s *Store) AnswerByMessage(ctx context.Context, platform string, msg bot.MessageID) (bot.AnswerID, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	var id bot.AnswerID
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMessages).Get(messageKey(platform, string(msg)))
		if v == nil {
			return fmt.Errorf("%s message %q: %w", platform, msg, bot.ErrNotFound)
		}
		id = bot.AnswerID(v)
		return nil
	})
	return id, err
}

// Answer reads one answer. Its AskerID is the asker's keyed hash.
func (s *Store) Answer(ctx context.Context, id bot.AnswerID) (bot.Answer, error) {
	if err := ctx.Err(); err != nil {
		return bot.Answer{}, err
	}
	var a bot.Answer
	err := s.db.View(func(tx *bolt.Tx) error {
		r, err := getAnswer(tx, string(id))
		if err != nil {
			return err
		}
		a = r.answer()
		return nil
	})
	return a, err
}

// Vote records value +1 or -1 by voter on answer id, replacing the voter's
// earlier vote on it; value 0 removes the voter's vote. The voter is stored
// as a keyed hash. Concurrent votes are coalesced into shared transactions
// (bbolt's Batch); Vote returns once the vote is on disk.
func (s *Store) Vote(ctx context.Context, id bot.AnswerID, platform string, voter bot.UserID, value int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if value < -1 || value > 1 {
		return fmt.Errorf("%w: vote %d, want -1, 0 or +1", ErrInvalid, value)
	}
	if voter == "" {
		return fmt.Errorf("%w: a vote needs a voter", ErrInvalid)
	}
	hash := s.HashUser(platform, voter)
	if !s.votes.allow(hash) {
		return fmt.Errorf("voting on %q: %w (more than %d a minute)", id, ErrRateLimited, s.votes.perMinute)
	}
	key := voteKey(string(id), hash)
	at := s.now()
	val := encodeVote(value, at)
	return s.update(s.batchVotes, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketAnswers).Get([]byte(id)) == nil {
			return fmt.Errorf("voting: answer %q: %w", id, bot.ErrNotFound)
		}
		if err := logVote(tx, string(id), hash, value, at); err != nil {
			return err
		}
		b := tx.Bucket(bucketVotes)
		if value == 0 {
			return b.Delete(key)
		}
		return b.Put(key, val)
	})
}

// Choose records an A/B choice by voter: winner preferred over loser. Only
// a voter's first choice between two answers counts; later ones are
// ignored without error.
func (s *Store) Choose(ctx context.Context, winner, loser bot.AnswerID, platform string, voter bot.UserID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if winner == loser || winner == "" || loser == "" {
		return fmt.Errorf("%w: a choice needs two different answers", ErrInvalid)
	}
	if voter == "" {
		return fmt.Errorf("%w: a choice needs a voter", ErrInvalid)
	}
	hash := s.HashUser(platform, voter)
	if !s.votes.allow(hash) {
		return fmt.Errorf("choosing between %q and %q: %w (more than %d a minute)", winner, loser, ErrRateLimited, s.votes.perMinute)
	}
	key := choiceKey(string(winner), string(loser), hash)
	val := encodeChoice(string(winner), s.now())
	return s.update(s.batchVotes, func(tx *bolt.Tx) error {
		for _, id := range []bot.AnswerID{winner, loser} {
			if tx.Bucket(bucketAnswers).Get([]byte(id)) == nil {
				return fmt.Errorf("choosing: answer %q: %w", id, bot.ErrNotFound)
			}
		}
		b := tx.Bucket(bucketChoices)
		if b.Get(key) != nil {
			return nil
		}
		return b.Put(key, val)
	})
}

// RecentAnswers lists the answers in a chat created at or after since,
// newest first, at most limit of them (limit <= 0: all). A non-empty asker
// (a raw platform id) keeps only the answers to that person's questions.
// It reads the chat index, never the whole store.
func (s *Store) RecentAnswers(ctx context.Context, platform string, chat bot.ChatID, asker bot.UserID, since time.Time, limit int) ([]bot.Answer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	askerHash := s.HashUser(platform, asker)
	prefix := chatPrefix(platform, string(chat))
	var out []bot.Answer
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketChats).Cursor()
		// Seek past the prefix's last possible key, then walk back.
		end := append(bytes.Clone(prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		k, _ := c.Seek(end)
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			rest := k[len(prefix):]
			if len(rest) < 8 {
				return fmt.Errorf("%w: chat index key %q", ErrCorrupt, k)
			}
			if parseTimeKey(rest[:8]).Before(since) {
				break
			}
			r, err := getAnswer(tx, string(rest[8:]))
			if err != nil {
				return err
			}
			if askerHash != "" && r.AskerHash != askerHash {
				continue
			}
			out = append(out, r.answer())
			if limit > 0 && len(out) >= limit {
				break
			}
		}
		return nil
	})
	return out, err
}

// Check runs bbolt's consistency check over the whole file and returns the
// first problem it finds, wrapped in ErrCorrupt.
func (s *Store) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() {
			if first == nil {
				// bbolt's checker reports an assertion it tripped over as
				// "panic: …"; it is a damaged page, not a crash.
				first = fmt.Errorf("%w: %s", ErrCorrupt, strings.TrimPrefix(err.Error(), "panic: "))
			}
		}
		return first
	})
}
