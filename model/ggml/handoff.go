package ggml

import (
	"runtime"
	"sync/atomic"
	"time"
)

// The pool hands each product to its workers without parking them
// between the products of one token, as llama.cpp's thread pool does: a
// decode step is some 170 products and attention loops a few tens of
// microseconds apart, and waking a parked goroutine (a futex call, then
// the scheduler) costs about as long as a small product takes. A worker
// that has finished a job polls for the next one for spinFor, yielding
// its processor on every poll after the first few (so that other
// goroutines, and the caller when GOMAXPROCS is smaller than the pool,
// still run), and only then parks until the next dispatch wakes it.
//
// The protocol: the dispatcher publishes the job, sets left to the number
// of workers and bumps gen; each worker runs the job of every generation
// exactly once (the dispatcher does not bump gen again until left is 0)
// and decrements left. A worker about to park sets asleep and checks gen
// once more; the dispatcher, after bumping gen, wakes every worker whose
// asleep flag it clears. Either the worker sees the new generation or the
// dispatcher sees the flag, so no wake-up is lost.

// spinFor is how long an idle worker polls for the next job before it
// parks: far longer than the gaps between the products of one token (a few
// microseconds of norms and bookkeeping), short enough that the gap between
// tokens (sampling) and an idle engine cost little. Measured on a 2-core
// Zen 3 (tg128, Qwen2.5-0.5B Q8_0 and Q4_K_M): 200 µs and 500 µs decode
// as fast as 2 ms; parking between tokens costs one wake-up per token.
const spinFor = 200 * time.Microsecond

// spinPause is how many polls a waiter makes before it starts yielding
// its processor between polls.
const spinPause = 64

// poolWorker is one worker goroutine's parking place.
type poolWorker struct {
	asleep atomic.Bool
	wake   chan struct{} // capacity 1
}

// startWorkers starts the pool's threads-1 worker goroutines.
func (p *Pool) startWorkers() {
	p.workers = make([]*poolWorker, p.threads-1)
	for i := range p.workers {
		w := &poolWorker{wake: make(chan struct{}, 1)}
		p.workers[i] = w
		go p.serve(w)
	}
}

// serve is a worker: it runs the job of each generation until the pool
// closes.
func (p *Pool) serve(w *poolWorker) {
	for g := uint64(1); ; g++ {
		p.await(w, g)
		if p.stopped.Load() {
			return
		}
		p.job.run()
		p.left.Add(-1)
	}
}

// await returns once the pool's generation has reached g, polling for
// spinFor and then parking.
func (p *Pool) await(w *poolWorker, g uint64) {
	var start time.Time
	for i := 0; p.gen.Load() < g; i++ {
		switch {
		case i < spinPause:
			continue
		case i == spinPause:
			start = time.Now()
		case i%32 == 0 && time.Since(start) > spinFor:
			w.asleep.Store(true)
			if p.gen.Load() >= g && w.asleep.CompareAndSwap(true, false) {
				return
			}
			<-w.wake // sent by the dispatcher that cleared asleep
			continue
		}
		runtime.Gosched()
	}
}

// dispatch runs j on the calling goroutine and every worker and returns
// when all of them have finished it.
func (p *Pool) dispatch(j *poolJob) {
	j.next.Store(0)
	if len(p.workers) == 0 {
		j.run()
		return
	}
	p.left.Store(int32(len(p.workers)))
	p.gen.Add(1)
	p.wakeAll()
	j.run()
	for i := 0; p.left.Load() != 0; i++ {
		if i >= spinPause {
			runtime.Gosched()
		}
	}
}

// wakeAll wakes the workers that have parked.
func (p *Pool) wakeAll() {
	for _, w := range p.workers {
		if w.asleep.Load() && w.asleep.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
}

// stopWorkers ends the worker goroutines; no job may be in flight.
func (p *Pool) stopWorkers() {
	p.stopped.Store(true)
	p.gen.Add(1)
	p.wakeAll()
}
