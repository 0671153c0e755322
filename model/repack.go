package model

import (
	"context"
	"fmt"
	"log/slog"
	"time"
	"unsafe"

	"github.com/chatloop/chatloop/internal/offheap"
	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
)

// Load-time repacking. For every weight matrix whose type has a packed
// layout on this CPU (ggml.Packable), the engine writes the matrix once in
// that layout (rows interleaved so that the packed kernel needs no
// horizontal sums), as llama.cpp's CPU backend does with its repack
// buffers, and multiplies with ggml's packed kernel. The packed copies
// live in one anonymous mapping outside the Go heap; the file's pages of
// each packed matrix are then released, so resident memory holds one copy
// of the weights, not two. Results are bit for bit those of the file
// layout.

// packedWeights is the memory holding the packed matrices.
type packedWeights struct {
	mem       []byte
	free      func() error
	bytes     int64 // bytes repacked
	matrices  int   // matrices repacked
	took      time.Duration
	jobs      []namedMatrix // the packed matrices, in mem's order
	fromCache bool          // mem maps a pack cache file
	cache     *packCache    // nil: none kept

	// A background task (writing or checking the pack cache) reads mem
	// until it ends: release cancels it and waits.
	bgCancel context.CancelFunc
	bgDone   chan struct{}
}

// packAlign aligns each packed matrix in the mapping (a cache line).
const packAlign = 64

// repack packs the packable matrices of w in place of their file bytes:
// every block's projections and the output, and the token embedding only
// when it is the output (tied; packed once, shared), since an embedding
// is otherwise read a row at a time. The file's pages of each packed
// matrix are released (gguf.File.ReleaseTensor). It returns nil when
// nothing is packable. On error, w is left as it was.
//
// With a cache, the packed matrices are mapped from its file when it
// matches the model, instead of being packed again.
func repack(f *gguf.File, w *arch.Weights, names *arch.TensorNames, pool *ggml.Pool, cache *packCache, log *slog.Logger) (*packedWeights, error) {
	start := time.Now()
	var jobs []namedMatrix // full tensor names
	for i := range w.Layers {
		for _, m := range layerMatrices(&w.Layers[i], names) {
			jobs = append(jobs, namedMatrix{fmt.Sprintf(names.Block, i) + m.name, m.m})
		}
	}
	tied := len(w.Output.Data) > 0 && len(w.Embedding.Data) > 0 && unsafe.SliceData(w.Output.Data) == unsafe.SliceData(w.Embedding.Data)
	if tied {
		jobs = append(jobs, namedMatrix{names.Embedding, &w.Output})
	} else {
		jobs = append(jobs, namedMatrix{names.Output, &w.Output})
	}
	total := 0
	n := 0
	for _, j := range jobs {
		if j.m.Packed || !ggml.Packable(j.m.Type, j.m.Rows, j.m.Cols) {
			continue
		}
		jobs[n] = j
		n++
		total += (len(j.m.Data) + packAlign - 1) &^ (packAlign - 1)
	}
	jobs = jobs[:n]
	if n == 0 {
		return nil, nil
	}
	release := func(j namedMatrix) {
		// The file's copy is no longer read (an untied embedding lies in
		// tensors of its own); a failure only costs memory.
		if err := f.ReleaseTensor(j.name); err != nil {
			log.Warn("repack: the file's copy stays resident", "tensor", j.name, "err", err)
		}
	}
	if p := cache.load(jobs, log); p != nil {
		entries, _ := packEntries(jobs)
		for i, j := range jobs {
			e := entries[i]
			j.m.Data, j.m.Packed = p.mem[e.Offset:e.Offset+e.Size:e.Offset+e.Size], true
			release(j)
			p.bytes += e.Size
		}
		if tied {
			w.Embedding = w.Output
		}
		p.jobs, p.took, p.cache = jobs, time.Since(start), cache
		return p, nil
	}
	mem, free, err := offheap.Alloc(total)
	if err != nil {
		return nil, fmt.Errorf("repacking %d bytes of weights: %w", total, err)
	}
	p := &packedWeights{mem: mem, free: free, matrices: n}
	dsts := make([][]byte, n)
	off := 0
	for i, j := range jobs {
		size := len(j.m.Data)
		dsts[i] = mem[off : off+size : off+size]
		off += (size + packAlign - 1) &^ (packAlign - 1)
		if err := pool.Pack(j.m.Type, dsts[i], j.m.Data, j.m.Rows, j.m.Cols); err != nil {
			_ = p.release()
			return nil, fmt.Errorf("repacking %s: %w", j.name, err)
		}
		release(j)
		p.bytes += int64(size)
	}
	for i, j := range jobs {
		j.m.Data, j.m.Packed = dsts[i], true
	}
	if tied {
		w.Embedding = w.Output
	}
	p.jobs, p.took, p.cache = jobs, time.Since(start), cache
	return p, nil
}

// background runs task on its own goroutine; release stops it (through
// its context) and waits for it before freeing the memory it reads.
func (p *packedWeights) background(task func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	p.bgCancel, p.bgDone = cancel, make(chan struct{})
	go func() {
		defer close(p.bgDone)
		task(ctx)
	}()
}

// finishSave waits, up to limit, for a pack cache still being written,
// so that a short-lived process (`chat --once`) leaves the cache for the
// next load instead of repacking at every start. A check of a cache the
// weights were mapped from is not waited for: release stops it.
func (p *packedWeights) finishSave(limit time.Duration, log *slog.Logger) {
	if p == nil || p.fromCache || p.bgDone == nil {
		return
	}
	select {
	case <-p.bgDone:
		return
	default:
	}
	log.Info("finishing the pack cache for the next load", "wait_at_most", limit)
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-p.bgDone:
	case <-t.C:
		log.Warn("the pack cache was not finished in time; the next load packs again", "waited", limit)
	}
}

// release frees the packed matrices; nothing may read them afterwards.
func (p *packedWeights) release() error {
	if p == nil || p.mem == nil {
		return nil
	}
	if p.bgCancel != nil {
		p.bgCancel()
		<-p.bgDone
	}
	p.mem = nil
	if err := p.free(); err != nil {
		return fmt.Errorf("model: freeing the repacked weights: %w", err)
	}
	return nil
}
