package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/feedback/socket"
)

// TestRewardTrainWhileHeld is issue 15's item 11: `reward train --db`
// reads the pairs over the feedback socket while `chatloop run` holds the
// database, as `feedback export` does.
func TestRewardTrainWhileHeld(t *testing.T) {
	db := feedbackDB(t)
	s, err := feedback.Open(db, feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := socket.Serve(ctx, s, db+".sock", nil); err != nil {
			t.Error(err)
		}
	})
	defer wg.Wait()
	defer cancel()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(db + ".sock"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	rm := filepath.Join(t.TempDir(), "rm.json")
	out, errOut, _ := run(t, "", "reward", "train", "--model", tinyModel(t), "--db", db, "--out", rm, "--epochs", "1")
	if !strings.Contains(out, "1 preference pairs") || strings.Contains(errOut, "held") || strings.Contains(errOut, "lock") {
		t.Fatalf("reward train --db on a held database: stdout %q, stderr %q; want the pair read over the socket", out, errOut)
	}
	// Standard error is not a terminal here: no progress bar redrawn
	// with carriage returns in a log file.
	if strings.Contains(errOut, "\r") || strings.Contains(errOut, "█") {
		t.Errorf("a progress bar was drawn on a non-terminal: %q", errOut)
	}
}
