package feedback

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/chatloop/chatloop/model/chat"
)

// summary is what statistics and pairing need of an answer, kept as the
// value of its entry in the groups bucket (schema version 2), so that
// Stats and the preference pairs read a few dozen bytes per answer
// instead of decoding its JSON record.
type summary struct {
	facts
	id         string
	finished   bool
	truncated  bool
	promptHash [16]byte // SHA-256 of the prompt's turns, truncated
}

const (
	flagFinished = 1 << iota
	flagTruncated
)

// promptHash identifies a prompt: two answers are siblings for pairing
// only when their prompts hash alike. The tools offered are part of what
// the model saw, so they count too; a prompt without tools hashes as it
// did before tool calling, so stored summaries stay valid.
func promptHash(ts []Message, tools []chat.Tool) [16]byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	write := func(s string) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	for _, t := range ts {
		write(t.Role)
		write(t.Content)
		if len(t.ToolCalls) > 0 || t.ToolCallID != "" || t.Name != "" {
			// A tool round in the history (never in a plain prompt).
			write("\x00tool")
			write(t.ToolCallID)
			write(t.Name)
			for _, c := range t.ToolCalls {
				write(c.ID)
				write(c.Function.Name)
				write(c.Function.Arguments)
			}
		}
	}
	if len(tools) > 0 {
		write("\x00tools")
		b, _ := json.Marshal(tools)
		write(string(b))
	}
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

func encodeSummary(r *answerRecord) []byte {
	b := make([]byte, 0, 8+1+16+len(r.Platform)+64)
	b = append(b, timeKey(r.Created)...)
	var flags byte
	if r.Finished {
		flags |= flagFinished
	}
	if r.Truncated {
		flags |= flagTruncated
	}
	b = append(b, flags)
	h := promptHash(r.Prompt, r.Tools)
	b = append(b, h[:]...)
	b = appendPart(b, r.Platform)
	b = appendPart(b, r.Model.Backend)
	b = appendPart(b, r.Model.Name)
	b = appendPart(b, modelKey(r.Model))
	return appendPart(b, versionOf(r.Model))
}

// interner shares the strings that repeat across summaries (platform,
// backend, model), so that reading 100,000 of them does not allocate
// 500,000 copies of "discord".
type interner map[string]string

func (in interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if len(in) < 4096 {
		in[s] = s
	}
	return s
}

// readPartBytes is readPart without the string copy.
func readPartBytes(key []byte) ([]byte, []byte, error) {
	n, w := binary.Uvarint(key)
	if w <= 0 || uint64(len(key)-w) < n {
		return nil, nil, fmt.Errorf("%w: malformed key %q", ErrCorrupt, key)
	}
	return key[w : w+int(n)], key[w+int(n):], nil
}

func decodeSummary(id string, v []byte) (summary, error) {
	return decodeSummaryIn(nil, id, v)
}

func decodeSummaryIn(in interner, id string, v []byte) (summary, error) {
	if len(v) < 25 {
		return summary{}, fmt.Errorf("%w: summary of answer %q is %d bytes", ErrCorrupt, id, len(v))
	}
	s := summary{id: id, finished: v[8]&flagFinished != 0, truncated: v[8]&flagTruncated != 0}
	s.created = parseTimeKey(v[:8])
	copy(s.promptHash[:], v[9:25])
	rest := v[25:]
	for _, to := range []*string{&s.platform, &s.backend, &s.name, &s.modelKey, &s.version} {
		b, r, err := readPartBytes(rest)
		if err != nil {
			return summary{}, fmt.Errorf("summary of answer %q: %w", id, err)
		}
		rest = r
		if in != nil {
			*to = in.get(b)
		} else {
			*to = string(b)
		}
	}
	return s, nil
}

// putSummary writes r's summary into its groups entry.
func putSummary(tx *bolt.Tx, r *answerRecord) error {
	return tx.Bucket(bucketGroups).Put(groupKey(r.GroupID, r.ID), encodeSummary(r))
}

// migrateV2 writes the summary of every answer into the groups bucket.
func migrateV2(tx *bolt.Tx, _ time.Time) error {
	c := tx.Bucket(bucketAnswers).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		r, err := decodeAnswer(v)
		if err != nil {
			return fmt.Errorf("answer %q: %w", k, err)
		}
		if err := putSummary(tx, r); err != nil {
			return err
		}
	}
	return nil
}

// forEachSummary calls fn with every answer's group and summary, group by
// group.
func forEachSummary(tx *bolt.Tx, fn func(group string, s summary) error) error {
	in := interner{}
	c := tx.Bucket(bucketGroups).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		g, id, err := readPart(k)
		if err != nil {
			return err
		}
		s, err := decodeSummaryIn(in, string(id), v)
		if err != nil {
			return err
		}
		if err := fn(g, s); err != nil {
			return err
		}
	}
	return nil
}
