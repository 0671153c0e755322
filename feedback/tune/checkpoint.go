package tune

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chatloop/chatloop/model/train"
)

// A checkpoint is the whole state of a run after a step: the adapter,
// AdamW's moments, the step, and what must not change for a resume to
// continue the same run (the data, the options that shape the run). It is
// a gob file written atomically beside the output.

const checkpointVersion = 1

var errNoCheckpoint = errors.New("tune: no checkpoint")

// ErrCheckpoint is returned (wrapped) for a checkpoint that cannot be
// resumed: unreadable, or from another run.
var ErrCheckpoint = errors.New("tune: checkpoint does not fit this run")

type checkpoint struct {
	Version   int
	Step      int
	Steps     int
	DataHash  [32]byte
	Loss      string
	Beta      float64
	Rank      int
	Alpha     float32
	Targets   []int
	Epochs    int
	LR        float64
	Batch     int
	Seed      uint64
	Params    [][]float32
	M, V      [][]float32
	AdamSteps int
}

func newCheckpoint(step int, ad *train.Adapter, opt *train.AdamW, hash [32]byte, o Options, steps int) *checkpoint {
	ck := &checkpoint{Version: checkpointVersion, Step: step, Steps: steps, DataHash: hash, Loss: string(o.Loss), Beta: o.Beta,
		Rank: o.Rank, Alpha: o.Alpha, Epochs: o.Epochs, LR: o.LR, Batch: o.Batch, Seed: o.Seed,
		Params: ad.Params(), M: opt.M, V: opt.V, AdamSteps: opt.Steps}
	for _, t := range o.Targets {
		ck.Targets = append(ck.Targets, int(t))
	}
	return ck
}

// restore checks that ck belongs to this run and loads its state.
func (ck *checkpoint) restore(ad *train.Adapter, opt *train.AdamW, hash [32]byte, o Options, steps int) error {
	var targets []int
	for _, t := range o.Targets {
		targets = append(targets, int(t))
	}
	switch {
	case ck.Version != checkpointVersion:
		return fmt.Errorf("%w: version %d, want %d", ErrCheckpoint, ck.Version, checkpointVersion)
	case ck.DataHash != hash:
		return fmt.Errorf("%w: it was made on other data (pairs, model or holdout split differ)", ErrCheckpoint)
	case ck.Loss != string(o.Loss) || ck.Beta != o.Beta || ck.Rank != o.Rank || ck.Alpha != o.Alpha ||
		ck.Epochs != o.Epochs || ck.LR != o.LR || ck.Batch != o.Batch || ck.Seed != o.Seed || fmt.Sprint(ck.Targets) != fmt.Sprint(targets):
		return fmt.Errorf("%w: it was made with method %s, beta %v, rank %d, alpha %v, targets %v, epochs %d, lr %v, batch %d, seed %d",
			ErrCheckpoint, ck.Loss, ck.Beta, ck.Rank, ck.Alpha, ck.Targets, ck.Epochs, ck.LR, ck.Batch, ck.Seed)
	case ck.Steps != steps || ck.Step > steps:
		return fmt.Errorf("%w: step %d of %d, this run has %d", ErrCheckpoint, ck.Step, ck.Steps, steps)
	}
	ps := ad.Params()
	if len(ck.Params) != len(ps) || len(ck.M) != len(ps) || len(ck.V) != len(ps) {
		return fmt.Errorf("%w: %d parameter tensors, want %d", ErrCheckpoint, len(ck.Params), len(ps))
	}
	for i, p := range ps {
		if len(ck.Params[i]) != len(p) || len(ck.M[i]) != len(p) || len(ck.V[i]) != len(p) {
			return fmt.Errorf("%w: parameter tensor %d has %d values, want %d", ErrCheckpoint, i, len(ck.Params[i]), len(p))
		}
	}
	for i, p := range ps {
		copy(p, ck.Params[i])
		copy(opt.M[i], ck.M[i])
		copy(opt.V[i], ck.V[i])
	}
	opt.Steps = ck.AdamSteps
	return nil
}

func loadCheckpoint(path string) (*checkpoint, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoCheckpoint
	}
	if err != nil {
		return nil, fmt.Errorf("tune: %w", err)
	}
	var ck checkpoint
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&ck); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCheckpoint, path, err)
	}
	return &ck, nil
}

// saveCheckpoint writes ck to path atomically.
func saveCheckpoint(path string, ck *checkpoint) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(ck); err != nil {
		return fmt.Errorf("tune: checkpoint: %w", err)
	}
	return writeAtomic(path, buf.Bytes())
}

// writeAtomic writes data to a temporary file beside path, syncs it and
// renames it into place.
func writeAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("tune: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("tune: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("tune: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("tune: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("tune: %w", err)
	}
	return nil
}
