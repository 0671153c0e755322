package feedback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
)

// corruptFixture writes a closed database of n answers, each with a vote,
// and every other pair with an A/B choice, and returns its path.
func corruptFixture(t testing.TB, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fb.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	long := strings.Repeat("lorem ipsum dolor sit amet ", 20)
	for i := range n {
		id := fmt.Sprintf("01J%023d", i)
		a := answer(id, fmt.Sprintf("g%d", i/2), "test", "chat", "asker", t0.Add(time.Duration(i)*time.Minute), "question "+long)
		a.Text = "answer " + long
		a.Finished = true
		must(t, s.RecordAnswer(ctx, a))
		must(t, s.Vote(ctx, bot.AnswerID(id), "test", "voter", 1-2*(i%2)))
		if i%2 == 1 {
			must(t, s.Choose(ctx, bot.AnswerID(id), bot.AnswerID(fmt.Sprintf("01J%023d", i-1)), "test", "voter"))
		}
	}
	must(t, s.Close())
	return path
}

// damage returns copies of the database at path: truncated at half, and
// with a run of pages in the middle zeroed.
func damage(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	write := func(name string, b []byte) {
		p := filepath.Join(t.TempDir(), name+".db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		out[name] = p
	}
	write("truncated", data[:len(data)/2])
	zeroed := bytes.Clone(data)
	const page = 4096
	for i := 4 * page; i < len(zeroed)/2; i++ {
		zeroed[i] = 0
	}
	write("zeroed", zeroed)
	some := bytes.Clone(data)
	for p := 6; p*page < len(some); p += 7 {
		clear(some[p*page : p*page+page])
	}
	write("zeroed every 7th page", some)
	return out
}

// TestCorruptDatabaseIsAnError: a truncated file or zeroed pages give a
// clear "database corrupt" error naming `chatloop feedback check` and
// `chatloop feedback salvage`, never a panic, from opening and from every
// read stats, export and chat make.
func TestCorruptDatabaseIsAnError(t *testing.T) {
	path := corruptFixture(t, 300)
	ctx := context.Background()
	for name, p := range damage(t, path) {
		t.Run(name, func(t *testing.T) {
			var errs []error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panic: %v", r)
					}
				}()
				s, err := Open(p, Options{})
				if err != nil {
					errs = append(errs, err)
					return
				}
				defer s.Close()
				_, err = s.Stats(ctx)
				errs = append(errs, err)
				var buf bytes.Buffer
				for _, f := range Formats {
					_, err = s.Export(ctx, &buf, ExportOptions{Format: f, IncludeDemo: true})
					errs = append(errs, err)
				}
				for i := range 300 {
					_, err = s.Answer(ctx, bot.AnswerID(fmt.Sprintf("01J%023d", i)))
					if err != nil && !errors.Is(err, bot.ErrNotFound) {
						errs = append(errs, err)
					}
				}
				_, err = s.RecentAnswers(ctx, "test", "chat", "", time.Time{}, 1000)
				errs = append(errs, err)
				errs = append(errs, s.Check(ctx))
			}()
			failed := 0
			for _, err := range errs {
				if err == nil {
					continue
				}
				failed++
				msg := err.Error()
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(msg, "corrupt") || !strings.Contains(msg, "chatloop feedback check") || !strings.Contains(msg, "chatloop feedback salvage") {
					t.Errorf("error %q does not say the database is corrupt and name check and salvage", msg)
				}
			}
			if failed == 0 {
				t.Error("the damage went unnoticed")
			}
		})
	}
}

// TestSalvage: salvage copies every readable answer, vote and choice of a
// damaged file into a new database that opens and checks clean, keeps the
// hashing secret (old votes still match their voters), and reports what
// it could not read. An intact file is copied whole.
func TestSalvage(t *testing.T) {
	const n = 300
	path := corruptFixture(t, n)
	ctx := context.Background()
	orig, err := Open(path, Options{ReadOnly: true})
	must(t, err)
	voter := orig.HashUser("test", "voter")
	must(t, orig.Close())

	out := filepath.Join(t.TempDir(), "whole.db")
	rep, err := Salvage(ctx, path, out)
	must(t, err)
	if rep.Answers != n || rep.Votes != n || rep.Choices != n/2 || rep.Damaged() {
		t.Errorf("intact file: %+v, want %d answers, %d votes, %d choices, nothing lost", rep, n, n, n/2)
	}

	for name, p := range damage(t, path) {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.db")
			rep, err := Salvage(ctx, p, out)
			if err != nil {
				t.Fatalf("Salvage: %v", err)
			}
			if !rep.Damaged() || rep.Summary() == "" {
				t.Errorf("report %+v says nothing was lost", rep)
			}
			// Pages zeroed in the middle leave both ends readable. A file
			// cut in half loses the tree's root (bbolt writes new pages at
			// the end): what comes out of it is the page scan's
			// (TestSalvageScansOrphanedPages checks every record).
			if name == "zeroed" && (rep.Answers == 0 || rep.Answers >= n) {
				t.Errorf("salvaged %d of %d answers from a half-damaged file", rep.Answers, n)
			}
			t.Logf("%s: %d answers, %d votes, %d choices salvaged; lost:\n%s", name, rep.Answers, rep.Votes, rep.Choices, rep.Summary())
			s, err := Open(out, Options{ReadOnly: true})
			must(t, err)
			defer s.Close()
			must(t, s.Check(ctx))
			if s.HashUser("test", "voter") != voter && !rep.NewSecret {
				t.Error("the hashing secret was not kept, and the report does not say so")
			}
			st, err := s.Stats(ctx)
			must(t, err)
			if st.Answers != rep.Answers {
				t.Errorf("the copy holds %d answers, the report says %d", st.Answers, rep.Answers)
			}
			var buf bytes.Buffer
			_, err = s.Export(ctx, &buf, ExportOptions{Format: FormatRaw, IncludeDemo: true})
			must(t, err)
			if rep.Votes > 0 && !rep.NewSecret && !strings.Contains(buf.String(), voter) {
				t.Error("no vote survived with its voter hash")
			}
		})
	}
	if _, err := Salvage(ctx, path, path); err == nil {
		t.Error("salvage onto the source itself succeeded")
	}
}
