package tune

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chatloop/chatloop/model/train"
)

// TestResumeGivesTheSameAdapter interrupts a run, resumes it from its
// checkpoint, and compares the adapter with an uninterrupted run's.
func TestResumeGivesTheSameAdapter(t *testing.T) {
	e, m := tiny(t)
	ctx := context.Background()
	pairs := renderAll(t, e, synthetic(12, 4))
	trainSet, held := Split(pairs, 0.25, 1)
	if err := References(ctx, m, trainSet, nil); err != nil {
		t.Fatal(err)
	}
	if err := References(ctx, m, held, nil); err != nil {
		t.Fatal(err)
	}
	o := Options{Rank: 2, Alpha: 4, Targets: []train.Target{train.TargetQ, train.TargetV, train.TargetDown},
		Epochs: 2, LR: 1e-3, Batch: 2, Seed: 5, EvalEvery: 100}
	full, err := Run(ctx, m, trainSet, held, o)
	if err != nil {
		t.Fatal(err)
	}

	o.Checkpoint = filepath.Join(t.TempDir(), "out.gguf.ckpt")
	o.CheckpointEvery = 100
	cctx, cancel := context.WithCancel(ctx)
	o.Progress = func(p Progress) {
		if p.Step == 3 {
			cancel()
		}
	}
	part, err := Run(cctx, m, trainSet, held, o)
	if !errors.Is(err, ErrInterrupted) || part.Last.Step != 3 {
		t.Fatalf("interrupted run: %v at step %d, want ErrInterrupted at 3", err, part.Last.Step)
	}
	o.Progress, o.Resume = nil, true
	resumed, err := Run(ctx, m, trainSet, held, o)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.Resumed != 3 || resumed.Last.Step != full.Last.Step {
		t.Fatalf("resumed from %d to %d, want 3 to %d", resumed.Resumed, resumed.Last.Step, full.Last.Step)
	}
	a, b := full.Adapter.Params(), resumed.Adapter.Params()
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Fatalf("parameter tensor %d differs after resuming", i)
		}
	}

	// a checkpoint of another run is refused
	o.Seed = 6
	if _, err := Run(ctx, m, trainSet, held, o); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("resuming with another seed: %v, want ErrCheckpoint", err)
	}
}
