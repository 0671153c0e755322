package feedback

import (
	"bytes"
	"math"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/chatloop/chatloop/bot"
)

// TestWilson checks the interval against the published values of
// Newcombe (1998), "Two-sided confidence intervals for the single
// proportion", Statistics in Medicine 17:857-872, Table I, method 3
// (score interval without continuity correction), given to 4 decimals.
func TestWilson(t *testing.T) {
	for _, c := range []struct {
		up, n     int
		low, high float64
	}{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0, 0.1611},
		{1, 29, 0.0061, 0.1718},
	} {
		low, high := Wilson(c.up, c.n)
		if math.Abs(low-c.low) > 5e-5 || math.Abs(high-c.high) > 5e-5 {
			t.Errorf("Wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", c.up, c.n, low, high, c.low, c.high)
		}
	}
	if low, high := Wilson(0, 0); low != 0 || high != 1 {
		t.Errorf("Wilson(0, 0) = [%v, %v], want [0, 1]", low, high)
	}
	if low, high := Wilson(5, 5); high != 1 || low >= 1 {
		t.Errorf("Wilson(5, 5) = [%v, %v], want [<1, 1]", low, high)
	}
}

func TestModelVersion(t *testing.T) {
	for _, c := range []struct {
		m    bot.ModelInfo
		want string
	}{
		{bot.ModelInfo{Name: "qwen2.5-0.5b-instruct", Quantization: "Q8_0", SHA256: "3F2A9C0D11E4FFFF"}, "qwen2.5-0.5b-instruct Q8_0 @3f2a9c0d11e4"},
		{bot.ModelInfo{Name: "gpt-4o-mini", Backend: "openai"}, "gpt-4o-mini"},
		{bot.ModelInfo{SHA256: "ab"}, "(unknown) @ab"},
	} {
		if got := ModelVersion(c.m); got != c.want {
			t.Errorf("ModelVersion(%+v) = %q, want %q", c.m, got, c.want)
		}
	}
}

// TestStatsVersions counts votes per model version and per platform and
// day through the store.
func TestStatsVersions(t *testing.T) {
	clock := &fakeClock{t: t0}
	s := openTest(t, Options{Now: clock.now})
	a := answer("01A", "", "discord", "c1", "u1", t0, "hi")
	b := answer("01B", "", "wechat", "c2", "u1", t0, "hi")
	b.Model.SHA256 = "ffff0000"
	c := answer("01C", "", "discord", "c1", "u1", t0, "hello")
	for _, x := range []bot.Answer{a, b, c} {
		must(t, s.RecordAnswer(bg, x))
	}
	must(t, s.Vote(bg, "01A", "discord", "v1", 1))
	must(t, s.Vote(bg, "01A", "discord", "v2", 1))
	must(t, s.Vote(bg, "01C", "discord", "v1", -1))
	clock.t = t0.Add(24 * time.Hour)
	must(t, s.Vote(bg, "01B", "wechat", "v1", 1))
	must(t, s.Vote(bg, "01A", "discord", "v2", -1)) // changed: counted once, as down

	st, err := s.Stats(bg)
	must(t, err)
	if len(st.Versions) != 2 {
		t.Fatalf("got %d versions, want 2: %+v", len(st.Versions), st.Versions)
	}
	v := st.Versions[0]
	if v.Version != "qwen2.5-0.5b-instruct Q8_0 @ab12" || v.Answers != 2 || v.Up != 1 || v.Down != 2 || v.Votes != 3 {
		t.Errorf("first version: got %+v", v)
	}
	if lo, hi := Wilson(1, 3); v.Low != lo || v.High != hi || math.Abs(v.Approval-1.0/3) > 1e-12 {
		t.Errorf("first version interval: got %v [%v, %v]", v.Approval, v.Low, v.High)
	}
	if w := st.Versions[1]; w.Version != "qwen2.5-0.5b-instruct Q8_0 @ffff0000" || w.Up != 1 || w.Down != 0 {
		t.Errorf("second version: got %+v", w)
	}
	day0, day1 := t0.UTC().Format(time.DateOnly), t0.Add(24*time.Hour).UTC().Format(time.DateOnly)
	want := []DayVotes{
		{Day: day0, Platform: "discord", Up: 1, Down: 1},
		{Day: day1, Platform: "discord", Up: 0, Down: 1},
		{Day: day1, Platform: "wechat", Up: 1},
	}
	if len(st.VotesByDay) != len(want) {
		t.Fatalf("votes by day: got %+v, want %+v", st.VotesByDay, want)
	}
	for i := range want {
		if st.VotesByDay[i] != want[i] {
			t.Errorf("votes by day[%d]: got %+v, want %+v", i, st.VotesByDay[i], want[i])
		}
	}
}

// TestMigrateV2 opens a version 1 file (groups entries without
// summaries) and checks that the summaries are written and the stats and
// pairs come out as before.
func TestMigrateV2(t *testing.T) {
	path := t.TempDir() + "/v1.db"
	s, err := Open(path, Options{})
	must(t, err)
	must(t, s.RecordAnswer(bg, answer("01A", "g", "discord", "c", "u", t0, "hi")))
	must(t, s.RecordAnswer(bg, answer("01B", "g", "discord", "c", "u", t0, "hi")))
	must(t, s.Vote(bg, "01A", "discord", "v", 1))
	want, err := s.Stats(bg)
	must(t, err)
	// Turn it into a version 1 file.
	must(t, s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketGroups).Cursor()
		var keys [][]byte
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := tx.Bucket(bucketGroups).Put(k, nil); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{0, 0, 0, 0, 0, 0, 0, 1})
	}))
	must(t, s.Close())
	if _, err := Open(path, Options{ReadOnly: true}); err == nil {
		t.Error("read-only open of a version 1 file: no error")
	}
	s, err = Open(path, Options{})
	must(t, err)
	defer s.Close()
	checkConsistent(t, s)
	got, err := s.Stats(bg)
	must(t, err)
	if got.Answers != 2 || got.Pairs != 1 || got.Versions[0].Up != 1 || got.Answers != want.Answers || got.Pairs != want.Pairs {
		t.Errorf("after migration: %+v, want %+v", got, want)
	}
}
