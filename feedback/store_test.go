package feedback

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/chatloop/chatloop/bot"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestOpenCreatesPrivateFileWithSchema(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.db")
	s, err := Open(path, Options{})
	must(t, err)
	fi, err := os.Stat(path)
	must(t, err)
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode %v, want 0600", got)
	}
	var version uint64
	must(t, s.db.View(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				t.Errorf("bucket %s missing", b)
			}
		}
		var err error
		version, err = schemaVersion(tx)
		return err
	}))
	if version != SchemaVersion {
		t.Errorf("schema version %d, want %d", version, SchemaVersion)
	}
	if len(s.secret) != 32 {
		t.Errorf("secret is %d bytes, want 32", len(s.secret))
	}
	secret := bytes.Clone(s.secret)
	must(t, s.Close())

	// Reopening keeps the secret; another database gets its own.
	s, err = Open(path, Options{})
	must(t, err)
	if !bytes.Equal(s.secret, secret) {
		t.Error("secret changed on reopen")
	}
	must(t, s.Close())
	other := openTest(t, Options{})
	if bytes.Equal(other.secret, secret) {
		t.Error("two databases share a secret")
	}
	if other.HashUser("discord", "1") == s.HashUser("discord", "1") {
		t.Error("two databases hash a user alike")
	}
}

func TestOpenRejectsNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	s, err := Open(path, Options{})
	must(t, err)
	must(t, s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{0, 0, 0, 0, 0, 0, 0, SchemaVersion + 1})
	}))
	must(t, s.Close())
	_, err = Open(path, Options{})
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("got %v, want ErrNewerSchema", err)
	}
}

func TestOpenMigratesAnEmptyBoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	db, err := bolt.Open(path, 0o600, nil)
	must(t, err)
	must(t, db.Close())
	if _, err := Open(path, Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only open of an unmigrated file succeeded")
	}
	s, err := Open(path, Options{})
	must(t, err)
	must(t, s.RecordAnswer(bg, answer("a1", "", "console", "c", "u", t0, "hi")))
	checkConsistent(t, s)
	must(t, s.Close())
	s, err = Open(path, Options{ReadOnly: true})
	must(t, err)
	defer s.Close()
	if _, err := s.Answer(bg, "a1"); err != nil {
		t.Fatal(err)
	}
}

func TestRecordAnswerRoundTrip(t *testing.T) {
	s := openTest(t, Options{})
	a := answer("01J00000000000000000000001", "g1", "discord", "chan", "asker-raw-id", t0, "be brief", "hello")
	a.Label = "A"
	a.PromptTokens, a.AnswerTokens, a.Latency = 12, 3, 1500*time.Millisecond
	score := 0.25
	a.Score = &score
	a.MessageIDs = []bot.MessageID{"m1"}
	must(t, s.RecordAnswer(bg, a))

	got, err := s.Answer(bg, a.ID)
	must(t, err)
	want := a
	want.AskerID = bot.UserID(s.HashUser("discord", "asker-raw-id"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	if got.AskerID == "asker-raw-id" || len(got.AskerID) != 64 {
		t.Errorf("asker id %q is not a keyed hash", got.AskerID)
	}
	if id, err := s.AnswerByMessage(bg, "discord", "m1"); err != nil || id != a.ID {
		t.Errorf("AnswerByMessage = %q, %v; want %q", id, err, a.ID)
	}

	if err := s.RecordAnswer(bg, a); !errors.Is(err, ErrExists) {
		t.Errorf("recording twice: got %v, want ErrExists", err)
	}
	if err := s.RecordAnswer(bg, bot.Answer{Platform: "discord"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty id: got %v, want ErrInvalid", err)
	}
	if _, err := s.Answer(bg, "nope"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("unknown answer: got %v, want bot.ErrNotFound", err)
	}
	// An empty group makes the answer its own group.
	must(t, s.RecordAnswer(bg, answer("a2", "", "discord", "chan", "", t0, "x")))
	if got, _ := s.Answer(bg, "a2"); got.GroupID != "a2" {
		t.Errorf("group %q, want a2", got.GroupID)
	}
}

func TestSplitAnswerMapsEveryMessage(t *testing.T) {
	s := openTest(t, Options{})
	must(t, s.RecordAnswer(bg, answer("a1", "g", "wechat", "room", "u", t0, "long question")))
	must(t, s.RecordAnswer(bg, answer("a2", "g", "wechat", "room", "u", t0, "long question")))
	for _, m := range []bot.MessageID{"p1", "p2", "p3"} {
		must(t, s.MapMessage(bg, "wechat", m, "a1"))
	}
	must(t, s.MapMessage(bg, "wechat", "p2", "a1")) // again: harmless
	for _, m := range []bot.MessageID{"p1", "p2", "p3"} {
		id, err := s.AnswerByMessage(bg, "wechat", m)
		if err != nil || id != "a1" {
			t.Errorf("AnswerByMessage(%s) = %q, %v; want a1", m, id, err)
		}
	}
	got, err := s.Answer(bg, "a1")
	must(t, err)
	if want := []bot.MessageID{"p1", "p2", "p3"}; !slices.Equal(got.MessageIDs, want) {
		t.Errorf("message ids %v, want %v", got.MessageIDs, want)
	}
	if _, err := s.AnswerByMessage(bg, "discord", "p1"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("other platform: got %v, want bot.ErrNotFound", err)
	}
	if err := s.MapMessage(bg, "wechat", "p1", "a2"); !errors.Is(err, ErrInvalid) {
		t.Errorf("remapping a message to another answer: got %v, want ErrInvalid", err)
	}
	if err := s.MapMessage(bg, "wechat", "p9", "nope"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("unknown answer: got %v, want bot.ErrNotFound", err)
	}
}

func TestFinishAnswerUpdatesTextKeepsPrompt(t *testing.T) {
	clock := &fakeClock{t: t0}
	s := openTest(t, Options{Now: clock.now})
	a := answer("a1", "g", "discord", "c", "u", t0, "sys", "q")
	a.Sent = false
	must(t, s.RecordAnswer(bg, a))
	fin := a
	fin.Prompt = nil // the core may leave it out; it must not be lost
	fin.Text, fin.Truncated, fin.Finished, fin.Sent = "the answer, cut", true, true, true
	fin.PromptTokens, fin.AnswerTokens, fin.Latency = 40, 5, 2*time.Second
	fin.Model = bot.ModelInfo{Backend: "openai", Name: "remote-model"}
	fin.MessageIDs = []bot.MessageID{"m1", "m2"}
	must(t, s.FinishAnswer(bg, fin))
	got, err := s.Answer(bg, "a1")
	must(t, err)
	want := fin
	want.Prompt = a.Prompt
	want.AskerID = bot.UserID(s.HashUser("discord", "u"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("finished answer (-want +got):\n%s", diff)
	}
	if err := s.FinishAnswer(bg, bot.Answer{ID: "nope"}); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("unknown answer: got %v, want bot.ErrNotFound", err)
	}
}

func voteTally(t *testing.T, s *Store, id string) (up, down int) {
	t.Helper()
	must(t, s.db.View(func(tx *bolt.Tx) error {
		sn, err := readSnapshot(tx, false, false)
		if err != nil {
			return err
		}
		if tl := sn.tallies[id]; tl != nil {
			up, down = tl.up, tl.down
		}
		return nil
	}))
	return up, down
}

func TestVoteReplaceRemoveValidate(t *testing.T) {
	s := openTest(t, Options{})
	must(t, s.RecordAnswer(bg, answer("a1", "", "discord", "c", "asker", t0, "q")))
	steps := []struct {
		voter    bot.UserID
		value    int
		up, down int
	}{
		{"alice", +1, 1, 0},
		{"bob", -1, 1, 1},
		{"alice", -1, 0, 2}, // a later vote replaces the earlier one
		{"alice", -1, 0, 2},
		{"bob", 0, 0, 1}, // removing a reaction removes the vote
		{"carol", 0, 0, 1},
	}
	for i, st := range steps {
		must(t, s.Vote(bg, "a1", "discord", st.voter, st.value))
		if up, down := voteTally(t, s, "a1"); up != st.up || down != st.down {
			t.Errorf("step %d: got %d up %d down, want %d up %d down", i, up, down, st.up, st.down)
		}
	}
	for _, v := range []int{2, -2, 100} {
		if err := s.Vote(bg, "a1", "discord", "alice", v); !errors.Is(err, ErrInvalid) {
			t.Errorf("vote %d: got %v, want ErrInvalid", v, err)
		}
	}
	if err := s.Vote(bg, "nope", "discord", "alice", 1); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("vote on unknown answer: got %v, want bot.ErrNotFound", err)
	}
	// The same id on two platforms is two people.
	must(t, s.Vote(bg, "a1", "wechat", "alice", 1))
	if up, down := voteTally(t, s, "a1"); up != 1 || down != 1 {
		t.Errorf("got %d up %d down, want 1 and 1", up, down)
	}
}

func TestRawIDsNeverReachTheFile(t *testing.T) {
	s := openTest(t, Options{})
	path := s.Path()
	must(t, s.RecordAnswer(bg, answer("a1", "", "discord", "c", "ASKER-7ee1d", t0, "q")))
	must(t, s.RecordAnswer(bg, answer("a2", "", "discord", "c", "ASKER-7ee1d", t0, "q")))
	must(t, s.Vote(bg, "a1", "discord", "VOTER-51b3c", 1))
	must(t, s.Choose(bg, "a1", "a2", "discord", "CHOOSER-9d0a"))
	must(t, s.db.Sync())
	data, err := os.ReadFile(path)
	must(t, err)
	for _, raw := range []string{"ASKER-7ee1d", "VOTER-51b3c", "CHOOSER-9d0a"} {
		if bytes.Contains(data, []byte(raw)) {
			t.Errorf("raw id %s is in the database file", raw)
		}
	}
	if !bytes.Contains(data, []byte(s.HashUser("discord", "VOTER-51b3c"))) {
		t.Error("the voter's hash is not in the file either: is the vote stored at all?")
	}
}

func TestChooseKeepsFirstChoice(t *testing.T) {
	s := openTest(t, Options{})
	must(t, s.RecordAnswer(bg, answer("a", "g", "discord", "c", "u", t0, "q")))
	must(t, s.RecordAnswer(bg, answer("b", "g", "discord", "c", "u", t0, "q")))
	must(t, s.Choose(bg, "a", "b", "discord", "v1"))
	must(t, s.Choose(bg, "b", "a", "discord", "v1")) // ignored
	must(t, s.Choose(bg, "b", "a", "discord", "v2"))
	must(t, s.Choose(bg, "b", "a", "discord", "v3"))
	var picks []string
	must(t, s.db.View(func(tx *bolt.Tx) error {
		return forEachChoice(tx, func(a, b, voter, winner string, at time.Time) error {
			picks = append(picks, winner)
			return nil
		})
	}))
	slices.Sort(picks)
	if want := []string{"a", "b", "b"}; !slices.Equal(picks, want) {
		t.Errorf("winners %v, want %v", picks, want)
	}
	if err := s.Choose(bg, "a", "a", "discord", "v1"); !errors.Is(err, ErrInvalid) {
		t.Errorf("choosing an answer over itself: got %v, want ErrInvalid", err)
	}
	if err := s.Choose(bg, "a", "zz", "discord", "v1"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("unknown loser: got %v, want bot.ErrNotFound", err)
	}
}

func TestRecentAnswers(t *testing.T) {
	s := openTest(t, Options{})
	// Ids deliberately not in time order: the index sorts by creation.
	rec := []struct {
		id, chat, asker string
		at              time.Duration
	}{
		{"z1", "c1", "ann", 0},
		{"a2", "c1", "bob", time.Minute},
		{"m3", "c1", "ann", 2 * time.Minute},
		{"b4", "c2", "ann", 3 * time.Minute},
		{"k5", "c1", "", 4 * time.Minute},
	}
	for _, r := range rec {
		must(t, s.RecordAnswer(bg, answer(r.id, "", "discord", r.chat, r.asker, t0.Add(r.at), "q")))
	}
	must(t, s.RecordAnswer(bg, answer("w6", "", "wechat", "c1", "ann", t0.Add(5*time.Minute), "q")))
	ids := func(as []bot.Answer) []string {
		var out []string
		for _, a := range as {
			out = append(out, string(a.ID))
		}
		return out
	}
	cases := []struct {
		name  string
		chat  bot.ChatID
		asker bot.UserID
		since time.Time
		limit int
		want  []string
	}{
		{"all", "c1", "", time.Time{}, 0, []string{"k5", "m3", "a2", "z1"}},
		{"limit", "c1", "", time.Time{}, 2, []string{"k5", "m3"}},
		{"since", "c1", "", t0.Add(time.Minute), 0, []string{"k5", "m3", "a2"}},
		{"asker", "c1", "ann", time.Time{}, 0, []string{"m3", "z1"}},
		{"asker limit", "c1", "ann", time.Time{}, 1, []string{"m3"}},
		{"other chat", "c2", "", time.Time{}, 0, []string{"b4"}},
		{"no chat", "c3", "", time.Time{}, 0, nil},
		{"prefix of a chat name", "c", "", time.Time{}, 0, nil},
	}
	for _, c := range cases {
		got, err := s.RecentAnswers(bg, "discord", c.chat, c.asker, c.since, c.limit)
		must(t, err)
		if !slices.Equal(ids(got), c.want) {
			t.Errorf("%s: got %v, want %v", c.name, ids(got), c.want)
		}
	}
	got, err := s.RecentAnswers(bg, "discord", "c1", "ann", time.Time{}, 1)
	must(t, err)
	if got[0].AskerID != bot.UserID(s.HashUser("discord", "ann")) {
		t.Errorf("asker %q, want the hash", got[0].AskerID)
	}
}

func TestConcurrentVotesAllLand(t *testing.T) {
	s := openTest(t, Options{})
	must(t, s.RecordAnswer(bg, answer("a", "", "discord", "c", "u", t0, "q")))
	var wg sync.WaitGroup
	const writers, each = 8, 25
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				voter := bot.UserID(string(rune('A'+w)) + "-" + string(rune('a'+i)))
				if err := s.Vote(bg, "a", "discord", voter, 1-2*(i%2)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	up, down := voteTally(t, s, "a")
	if want := writers * ((each + 1) / 2); up != want {
		t.Errorf("up %d, want %d", up, want)
	}
	if want := writers * (each / 2); down != want {
		t.Errorf("down %d, want %d", down, want)
	}
}

func TestForget(t *testing.T) {
	s := openTest(t, Options{})
	must(t, s.RecordAnswer(bg, answer("a1", "g1", "discord", "c", "ann", t0, "ann's question")))
	must(t, s.RecordAnswer(bg, answer("a2", "g1", "discord", "c", "ann", t0, "ann's question")))
	must(t, s.RecordAnswer(bg, answer("b1", "g2", "discord", "c", "bob", t0, "bob's question")))
	must(t, s.RecordAnswer(bg, answer("b2", "g2", "discord", "c", "bob", t0, "bob's question")))
	must(t, s.RecordAnswer(bg, answer("w1", "g3", "wechat", "c", "ann", t0, "another ann")))
	must(t, s.MapMessage(bg, "discord", "m-a1", "a1"))
	must(t, s.Vote(bg, "a1", "discord", "bob", 1))
	must(t, s.Vote(bg, "b1", "discord", "ann", 1))
	must(t, s.Vote(bg, "b2", "discord", "ann", -1))
	must(t, s.Vote(bg, "b2", "discord", "cat", -1))
	must(t, s.Choose(bg, "b1", "b2", "discord", "ann"))
	must(t, s.Choose(bg, "a1", "a2", "discord", "bob"))

	f, err := s.Forget(bg, "discord", "ann", false)
	must(t, err)
	if want := (Forgotten{Votes: 2, Choices: 1, Known: true}); f != want {
		t.Errorf("forget votes: got %+v, want %+v", f, want)
	}
	if up, down := voteTally(t, s, "b2"); up != 0 || down != 1 {
		t.Errorf("b2 keeps %d up %d down, want cat's one down vote", up, down)
	}
	f, err = s.Forget(bg, "discord", "ann", true)
	must(t, err)
	if want := (Forgotten{Answers: 2, OtherVotes: 1, Choices: 1, Known: true}); f != want {
		t.Errorf("forget prompts: got %+v, want %+v", f, want)
	}
	for _, id := range []bot.AnswerID{"a1", "a2"} {
		if _, err := s.Answer(bg, id); !errors.Is(err, bot.ErrNotFound) {
			t.Errorf("answer %s survives: %v", id, err)
		}
	}
	if _, err := s.AnswerByMessage(bg, "discord", "m-a1"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("message map survives: %v", err)
	}
	if got, _ := s.RecentAnswers(bg, "discord", "c", "", time.Time{}, 0); len(got) != 2 {
		t.Errorf("%d answers left in the chat, want bob's 2", len(got))
	}
	if _, err := s.Answer(bg, "w1"); err != nil {
		t.Errorf("the same id on another platform is someone else: %v", err)
	}
	must(t, s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketGroups).Cursor().Seek(appendPart(nil, "g1")); k != nil && bytes.HasPrefix(k, appendPart(nil, "g1")) {
			t.Errorf("group index keeps %q", k)
		}
		return nil
	}))
}

func TestBackupIsAWorkingCopy(t *testing.T) {
	s := openTest(t, Options{})
	must(t, s.RecordAnswer(bg, answer("a1", "", "discord", "c", "u", t0, "q")))
	must(t, s.Vote(bg, "a1", "discord", "v", 1))
	var buf bytes.Buffer
	n, err := s.Backup(bg, &buf)
	must(t, err)
	if n != int64(buf.Len()) || n == 0 {
		t.Fatalf("backup wrote %d bytes, reported %d", buf.Len(), n)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	must(t, os.WriteFile(path, buf.Bytes(), 0o600))
	c, err := Open(path, Options{ReadOnly: true})
	must(t, err)
	defer c.Close()
	checkConsistent(t, c)
	if c.HashUser("discord", "v") != s.HashUser("discord", "v") {
		t.Error("the copy lost the hashing secret")
	}
	want, err := s.Stats(bg)
	must(t, err)
	got, err := c.Stats(bg)
	must(t, err)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stats of the copy (-orig +copy):\n%s", diff)
	}
}

// TestWritesDoNotWaitForLongReads holds a read transaction open (as a long
// export does) while votes and answers grow the file well past its first
// size: the writes must not wait for the reader to finish.
func TestWritesDoNotWaitForLongReads(t *testing.T) {
	if runtime.GOOS == "windows" || strconv.IntSize != 64 {
		t.Skip("the store maps ahead only on 64-bit non-Windows systems")
	}
	s := openTest(t, Options{})
	must(t, s.RecordAnswer(bg, answer("a0", "", "discord", "c", "u", t0, "q")))
	release := make(chan struct{})
	reading := make(chan struct{})
	go s.db.View(func(tx *bolt.Tx) error {
		close(reading)
		<-release
		return nil
	})
	<-reading
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	done := make(chan error, 1)
	go func() {
		big := strings.Repeat("a long answer that makes the file grow. ", 25000)
		for i := range 10 {
			a := answer(fmt.Sprintf("b%04d", i), "", "discord", "c", "u", t0, big)
			a.Text = big
			if err := s.RecordAnswer(bg, a); err != nil {
				done <- err
				return
			}
		}
		done <- s.Vote(bg, "a0", "discord", "v", 1)
	}()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(90 * time.Second):
		// A deadlock, not a slow disk: ten 1 MB answers take a few
		// seconds even under the race detector on a loaded machine.
		unblock()
		<-done
		t.Fatal("writes waited for a read transaction to end")
	}
	var size int64
	must(t, s.db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil }))
	if size < 8<<20 {
		t.Errorf("the file grew to %d bytes only: the test did not force a remap", size)
	}
	// Mapping ahead must not make the file itself bigger than its data
	// and one growth step.
	fi, err := os.Stat(s.Path())
	must(t, err)
	if fi.Size() > size+growStep {
		t.Errorf("the file is %d bytes for %d bytes of data", fi.Size(), size)
	}
}
