package model

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/kvcache"
	"github.com/chatloop/chatloop/model/sample"
	"github.com/chatloop/chatloop/model/tokenizer"
)

// maxLag is how many tokens a request may run ahead of its caller's
// onToken: a caller that does not keep up holds up its own request (and
// its cancellation takes effect within maxLag+1 tokens), never the
// others.
const maxLag = 2

// promptChunk is how many prompt tokens a step takes when other requests
// are decoding in it, so that a long prompt holds them up only a little
// at a time.
const promptChunk = 64

// scheduler runs every Generate call on one goroutine: each step takes
// the next token of every decoding request and a chunk of a new request's
// prompt through one forward pass, then samples each request's next token
// with its own sampler.
type scheduler struct {
	e        *Engine
	parallel int
	pool     *cachePool
	// forward runs a step's sequences; tests wrap it to inject failures.
	forward func(seqs []arch.Seq) error

	mu      sync.Mutex
	queue   []*job // waiting for a slot, oldest first
	closed  bool
	wake    chan struct{} // one pending signal: new work or closing
	stopped chan struct{} // closed when loop has returned

	// Owned by loop.
	active   []*job
	incoming []*job
	stepJobs []*job
	seqs     []arch.Seq
	logits   [][]float32       // free logits buffers, one per slot
	samplers []*sample.Sampler // free samplers, with their candidate buffers
	sampleFn func(i int)       // samples stepJobs[i]; made once so that it does not allocate
}

func newScheduler(e *Engine, parallel int, budget int64) *scheduler {
	s := &scheduler{
		e: e, parallel: parallel,
		pool:    newCachePool(budget, func() (*kvcache.Cache, error) { return e.model.NewCache(e.ctxSize) }, e.log),
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	s.forward = e.model.ForwardBatch
	s.sampleFn = func(i int) {
		if j := s.stepJobs[i]; j.fed == len(j.prompt) {
			if e.constrain != nil {
				e.constrain(j.prompt, j.history[len(j.prompt):], j.logits)
			}
			j.sampled = j.smp.Sample(j.logits, j.history)
		}
	}
	return s
}

func (s *scheduler) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// submit queues j, or returns ErrClosed.
func (s *scheduler) submit(j *job) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.queue = append(s.queue, j)
	// A cancellation wakes the loop, which may be waiting for callers.
	j.unwatch = context.AfterFunc(j.ctx, s.signal)
	s.mu.Unlock()
	s.signal()
	return nil
}

func (s *scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// close stops the loop after its current step and fails every request
// it holds with ErrClosed. It reports false if it was already closed.
func (s *scheduler) close() bool {
	s.mu.Lock()
	was := s.closed
	s.closed = true
	s.mu.Unlock()
	if was {
		return false
	}
	s.signal()
	<-s.stopped
	return true
}

func (s *scheduler) loop() {
	defer close(s.stopped)
	for {
		s.mu.Lock()
		closed := s.closed
		// Requests cancelled while waiting leave the queue at once.
		q := s.queue[:0]
		for _, j := range s.queue {
			if err := j.ctx.Err(); err != nil && !closed {
				s.finish(j, StopCancelled, err)
				continue
			}
			q = append(q, j)
		}
		clear(s.queue[len(q):])
		s.queue = q
		s.incoming = s.incoming[:0]
		for !closed && len(s.active)+len(s.incoming) < s.parallel && len(s.queue) > 0 {
			s.incoming = append(s.incoming, s.queue[0])
			s.queue[0] = nil
			s.queue = s.queue[1:]
		}
		if closed {
			s.incoming = append(s.incoming, s.queue...)
			s.queue = nil
		}
		s.mu.Unlock()
		if closed {
			for _, j := range s.active {
				s.finish(j, StopCancelled, ErrClosed)
			}
			for _, j := range s.incoming {
				s.finish(j, StopCancelled, ErrClosed)
			}
			s.active = nil
			s.pool.drop()
			return
		}
		for _, j := range s.incoming {
			if s.admit(j) {
				s.active = append(s.active, j)
			}
		}
		if len(s.active) == 0 || !s.step() {
			<-s.wake // new work, a closing, or a caller catching up
			continue
		}
		// The callers the step notified wait in this goroutine's run
		// queue; let them take their text before the next step, or with
		// every core busy they fall maxLag tokens behind and their
		// requests sit out steps.
		runtime.Gosched()
	}
}

// admit gives j a cache, reusing the longest prefix of its prompt found
// in the pool.
func (s *scheduler) admit(j *job) bool {
	j.begin = time.Now()
	c, n, err := s.pool.acquire(j.loraKey, j.prompt)
	if err != nil {
		s.finish(j, "", fmt.Errorf("model: %w", err))
		return false
	}
	j.cache, j.fed, j.res.CachedTokens = c, n, n
	if len(s.logits) > 0 {
		j.logits = s.logits[len(s.logits)-1]
		s.logits = s.logits[:len(s.logits)-1]
	} else {
		j.logits = make([]float32, s.e.model.Config.Vocab)
	}
	if len(s.samplers) > 0 {
		j.smp = s.samplers[len(s.samplers)-1]
		s.samplers = s.samplers[:len(s.samplers)-1]
		j.smp.Reset(j.req.Sampling)
	} else {
		j.smp = sample.New(j.req.Sampling)
	}
	return true
}

// step runs one forward pass for the active requests and hands each its
// next token. It reports false when nothing happened: every request left
// is waiting for its caller.
func (s *scheduler) step() bool {
	before := len(s.active)
	if err := s.advance(); err != nil {
		for _, j := range s.stepJobs {
			s.finish(j, "", fmt.Errorf("model: %w", err))
		}
	} else {
		for _, j := range s.stepJobs {
			if j.sampled < 0 {
				continue // prompt not finished yet
			}
			if reason, err := j.accept(j.sampled); reason != "" {
				s.finish(j, reason, err)
			}
		}
	}
	act := s.active[:0]
	for _, j := range s.active {
		if !j.over {
			act = append(act, j)
		}
	}
	clear(s.active[len(act):])
	s.active = act
	return len(s.stepJobs) > 0 || len(act) < before
}

// advance drops cancelled requests, runs the forward pass of the others'
// next tokens (and of a chunk of prompt) and samples the requests whose
// logits it produced, leaving the token in job.sampled (-1 for the others).
// It does not allocate in steady state.
func (s *scheduler) advance() error {
	decoding := false
	for _, j := range s.active {
		if err := j.ctx.Err(); err != nil {
			s.finish(j, StopCancelled, err)
			continue
		}
		decoding = decoding || j.fed == len(j.prompt)
	}
	budget := promptBatch
	if decoding {
		budget = promptChunk
	}
	s.seqs, s.stepJobs = s.seqs[:0], s.stepJobs[:0]
	for _, j := range s.active {
		if j.over {
			continue
		}
		j.sampled = -1
		if j.fed == len(j.prompt) {
			if j.lagging() {
				continue
			}
			j.one[0] = j.next
			s.seqs = append(s.seqs, arch.Seq{Tokens: j.one[:], Cache: j.cache, Logits: j.logits, LoRA: j.lora})
		} else {
			if budget == 0 {
				continue
			}
			j.chunk = min(budget, len(j.prompt)-j.fed)
			budget -= j.chunk
			var logits []float32
			if j.fed+j.chunk == len(j.prompt) {
				logits = j.logits
			}
			s.seqs = append(s.seqs, arch.Seq{Tokens: j.prompt[j.fed : j.fed+j.chunk], Cache: j.cache, Logits: logits, LoRA: j.lora})
		}
		s.stepJobs = append(s.stepJobs, j)
	}
	if len(s.seqs) == 0 {
		return nil
	}
	if err := s.e.fwd.lock(); err != nil {
		return err
	}
	defer s.e.fwd.Unlock()
	if err := s.forward(s.seqs); err != nil {
		return err
	}
	now := time.Now()
	for _, j := range s.stepJobs {
		if j.fed < len(j.prompt) {
			j.fed += j.chunk
			if j.fed == len(j.prompt) {
				j.res.PromptDuration = now.Sub(j.begin)
				j.genStart = now
			}
		}
	}
	// Each request has its own sampler: they run on the kernels' workers.
	return s.e.kern.Parallel(len(s.stepJobs), 1, s.sampleFn)
}

// finish ends j: reason is its stop reason ("" for a failure), err what
// Generate returns. Its cache goes back to the pool, reusable unless the
// request failed.
func (s *scheduler) finish(j *job, reason string, err error) {
	if j.over {
		return
	}
	j.over = true
	if j.unwatch != nil {
		j.unwatch()
	}
	if reason != "" && reason != StopString && j.dec != nil {
		out, _ := j.st.push(j.dec.Flush())
		j.emit(out)
		j.emit(j.st.flush())
	}
	j.res.StopReason = reason
	j.res.Truncated = reason == StopLength || reason == StopContext || reason == StopCancelled
	j.res.Text = j.text.String()
	if !j.genStart.IsZero() {
		j.res.GenDuration = time.Since(j.genStart)
	} else if !j.begin.IsZero() {
		j.res.PromptDuration = time.Since(j.begin)
	}
	if j.cache != nil {
		s.pool.release(j.cache, err == nil || reason == StopCancelled, len(j.prompt))
		j.cache = nil
	}
	if j.logits != nil {
		s.logits = append(s.logits, j.logits)
		j.logits = nil
	}
	if j.smp != nil {
		s.samplers = append(s.samplers, j.smp)
		j.smp = nil
	}
	j.err = err
	close(j.done)
}

// job is one Generate call.
type job struct {
	ctx    context.Context
	req    Request
	prompt []int
	tok    *tokenizer.Tokenizer
	wake   chan struct{} // the scheduler's
	// lora applies the request's adapters (nil: the base alone); loraKey
	// names that set for the prefix cache.
	lora    arch.LowRank
	loraKey string

	// Owned by the scheduler's loop.
	cache    *kvcache.Cache
	fed      int // prompt tokens in the cache
	chunk    int // prompt tokens in the current step
	history  []int
	logits   []float32
	one      [1]int
	next     int             // the last accepted token, fed in the next step
	sampled  int             // the token sampled in this step; -1: none
	smp      *sample.Sampler // from admission on
	dec      *tokenizer.Decoder
	st       stopper
	text     strings.Builder
	res      Result
	begin    time.Time
	genStart time.Time
	over     bool
	unwatch  func() bool // stops the cancellation watch

	// Handed to the caller.
	mu      sync.Mutex // guards pending and lag
	pending strings.Builder
	lag     int           // tokens accepted since the caller last took pending
	err     error         // read by the caller once done is closed
	notify  chan struct{} // one pending signal: text in pending
	done    chan struct{} // closed when res and err are final
}

func (e *Engine) newJob(ctx context.Context, prompt []int, req Request) *job {
	room := e.ctxSize - len(prompt) + 1
	if req.MaxTokens > 0 {
		room = min(room, req.MaxTokens)
	}
	j := &job{
		ctx: ctx, req: req, prompt: prompt, tok: e.tok, wake: e.sched.wake,
		history: make([]int, len(prompt), len(prompt)+room),
		dec:     e.tok.NewDecoder(),
		st:      stopper{stops: append(e.tmplStops(req), req.Stop...)},
		res:     Result{PromptTokens: len(prompt)},
		sampled: -1,
		notify:  make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	copy(j.history, prompt)
	return j
}

// accept takes the token sampled for j and returns a stop reason when j
// is over (with the error Generate returns), or "" when it goes on.
func (j *job) accept(next int) (string, error) {
	j.mu.Lock()
	j.lag++
	j.mu.Unlock()
	select {
	case j.notify <- struct{}{}:
	default:
	}
	if j.tok.IsEOG(int32(next)) {
		return StopEOG, nil
	}
	j.res.AnswerTokens++
	j.history = append(j.history, next)
	out, stopped := j.st.push(j.dec.Next(int32(next)))
	j.emit(out)
	if stopped {
		return StopString, nil
	}
	if j.req.MaxTokens > 0 && j.res.AnswerTokens >= j.req.MaxTokens {
		return StopLength, nil
	}
	if err := j.ctx.Err(); err != nil {
		return StopCancelled, err
	}
	if j.cache.Room(1) != nil {
		return StopContext, nil
	}
	j.next = next
	return "", nil
}

// emit adds s to the answer and hands it to the caller.
func (j *job) emit(s string) {
	if s == "" {
		return
	}
	j.text.WriteString(s)
	j.mu.Lock()
	j.pending.WriteString(s)
	j.mu.Unlock()
}

// lagging reports whether j's caller is maxLag tokens behind.
func (j *job) lagging() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lag >= maxLag
}

// wait passes the text to onToken as it comes, on the caller's goroutine,
// and returns the result.
func (j *job) wait(onToken func(string)) (Result, error) {
	for {
		select {
		case <-j.notify:
			j.deliver(onToken)
		case <-j.done:
			j.deliver(onToken)
			return j.res, j.err // written before done was closed
		}
	}
}

// deliver takes the pending text, lets the scheduler know that the caller
// has caught up, and hands the text to onToken.
func (j *job) deliver(onToken func(string)) {
	j.mu.Lock()
	s := j.pending.String()
	j.pending.Reset()
	was := j.lag
	j.lag = 0
	j.mu.Unlock()
	if was >= maxLag {
		select {
		case j.wake <- struct{}{}:
		default:
		}
	}
	if s != "" && onToken != nil {
		onToken(s)
	}
}
