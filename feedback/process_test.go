package feedback

import (
	"bufio"
	"fmt"
	"github.com/chatloop/chatloop/internal/childtest"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/chatloop/chatloop/bot"
)

// TestMain lets the test binary act as a second process: with
// FEEDBACK_TEST_CHILD set it runs that child role instead of the tests.
func TestMain(m *testing.M) {
	switch os.Getenv("FEEDBACK_TEST_CHILD") {
	case "":
		os.Exit(m.Run())
	case "votes":
		childVotes(os.Getenv("FEEDBACK_TEST_DB"), os.Getenv("FEEDBACK_TEST_RUN"))
	default:
		fmt.Fprintln(os.Stderr, "unknown child role")
		os.Exit(2)
	}
	os.Exit(0)
}

// childVotes writes answers and votes from eight goroutines forever,
// printing "A id" after each acknowledged answer and "V id voter value"
// after each acknowledged vote.
func childVotes(path, run string) {
	s, err := Open(path, Options{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	ack := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush() // before the next write begins, so a kill loses no ack
		mu.Unlock()
	}
	ack("ready")
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			var id string
			for i := 0; ; i++ {
				if i%10 == 0 {
					id = fmt.Sprintf("%s-w%d-%d", run, w, i)
					if err := s.RecordAnswer(bg, answer(id, "", "discord", "c", "asker", time.Now(), "q")); err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(1)
					}
					ack("A %s", id)
				}
				voter := fmt.Sprintf("%s-w%d-v%d", run, w, i)
				value := 1 - 2*rand.IntN(2)
				if err := s.Vote(bg, bot.AnswerID(id), "discord", bot.UserID(voter), value); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				ack("V %s %s %d", id, voter, value)
			}
		})
	}
	wg.Wait()
}

func startChild(t *testing.T, role string, env ...string) (*exec.Cmd, io.WriteCloser, *bufio.Scanner) {
	t.Helper()
	return childtest.Start(t, "FEEDBACK_TEST_CHILD", role, env...)
}

// TestCrashKeepsAcknowledgedVotes kills a writing process with SIGKILL at
// a random moment, several times, and checks after each kill that every
// acknowledged answer and vote is in the file and the file is consistent.
func TestCrashKeepsAcknowledgedVotes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	runs := 5
	if testing.Short() {
		runs = 2
	}
	total := 0
	for run := range runs {
		cmd, _, sc := startChild(t, "votes", "FEEDBACK_TEST_DB="+path, "FEEDBACK_TEST_RUN=r"+strconv.Itoa(run))
		var acks []string
		done := make(chan struct{})
		go func() {
			for sc.Scan() {
				acks = append(acks, sc.Text())
			}
			close(done)
		}()
		time.Sleep(time.Duration(50+rand.IntN(350)) * time.Millisecond)
		must(t, cmd.Process.Signal(syscall.SIGKILL))
		<-done
		cmd.Wait()

		s, err := Open(path, Options{})
		must(t, err)
		checkConsistent(t, s)
		answers, votes := 0, 0
		must(t, s.db.View(func(tx *bolt.Tx) error {
			for _, a := range acks {
				f := strings.Fields(a)
				switch {
				case len(f) == 2 && f[0] == "A":
					answers++
					if tx.Bucket(bucketAnswers).Get([]byte(f[1])) == nil {
						t.Errorf("run %d: acknowledged answer %s is lost", run, f[1])
					}
				case len(f) == 4 && f[0] == "V":
					votes++
					v := tx.Bucket(bucketVotes).Get(voteKey(f[1], s.HashUser("discord", bot.UserID(f[2]))))
					if v == nil {
						t.Errorf("run %d: acknowledged vote %s is lost", run, a)
						continue
					}
					got, _, err := decodeVote(v)
					if err != nil || strconv.Itoa(got) != f[3] {
						t.Errorf("run %d: vote %s stored as %d (%v)", run, a, got, err)
					}
				default:
					t.Errorf("run %d: bad ack line %q", run, a)
				}
			}
			return nil
		}))
		must(t, s.Close())
		t.Logf("run %d: %d answers and %d votes acknowledged before SIGKILL", run, answers, votes)
		total += votes
	}
	if total == 0 {
		t.Fatal("no vote was acknowledged in any run: the test checked nothing")
	}
}
