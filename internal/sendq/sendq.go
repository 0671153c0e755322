// Package sendq bounds outgoing sends that nobody waits for (notices,
// card updates): they wait in a queue of fixed capacity and are sent by at
// most a fixed number of goroutines, so that a platform API that hangs
// holds that many connections, not one per incoming message.
//
// When the queue is full the newest send is dropped: the sends already
// queued were accepted first and go out in order, and a flood that fills
// the queue is usually one sender's, whom a notice would only tell that
// they are flooding. Drops are counted and logged at warn level with the
// count: the first, then at each power of two, and at least every
// LogEvery while drops go on, never a line per drop.
package sendq

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// LogEvery is the longest time between two drop reports while sends are
// being dropped.
const LogEvery = 10 * time.Second

// Queue is a bounded queue of sends with a fixed number of senders. The
// zero value is not usable; use New.
type Queue struct {
	name     string
	log      *slog.Logger
	senders  int
	capacity int
	timeout  time.Duration

	mu       sync.Mutex
	waiting  []job
	active   int
	dropped  int64
	lastLog  time.Time
	loggedAt int64
	wg       sync.WaitGroup
}

type job struct {
	ctx  context.Context
	send func(context.Context)
	drop func()
}

// New returns a queue named name (in its log lines) that runs at most
// senders sends at once, each under timeout, with at most capacity more
// waiting.
func New(name string, log *slog.Logger, senders, capacity int, timeout time.Duration) *Queue {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Queue{name: name, log: log, senders: max(senders, 1), capacity: max(capacity, 0), timeout: timeout}
}

// Add queues send, to run with a context derived from ctx (and the
// queue's timeout) on one of the senders, and returns true; when the queue
// is full it drops send, calls drop (if not nil) and returns false. A send
// whose ctx is done before its turn is dropped too (drop is called, and it
// is not logged: the caller gave up on it). Add never blocks.
func (q *Queue) Add(ctx context.Context, send func(context.Context), drop func()) bool {
	q.mu.Lock()
	if q.active < q.senders {
		q.active++
		q.wg.Add(1)
		q.mu.Unlock()
		go q.run(job{ctx, send, drop})
		return true
	}
	if len(q.waiting) >= q.capacity {
		q.dropped++
		n := q.dropped
		report := n&(n-1) == 0 || time.Since(q.lastLog) >= LogEvery
		if report {
			q.lastLog = time.Now()
		}
		since := n - q.loggedAt
		if report {
			q.loggedAt = n
		}
		q.mu.Unlock()
		if report {
			q.log.Warn("outgoing sends dropped: the queue is full", "queue", q.name, "dropped", n, "since_last_report", since, "senders", q.senders, "capacity", q.capacity)
		}
		if drop != nil {
			drop()
		}
		return false
	}
	q.waiting = append(q.waiting, job{ctx, send, drop})
	q.mu.Unlock()
	return true
}

// run sends j, then whatever is waiting, and exits when nothing is.
func (q *Queue) run(j job) {
	defer q.wg.Done()
	for {
		if j.ctx.Err() != nil {
			if j.drop != nil {
				j.drop()
			}
		} else {
			ctx, cancel := context.WithTimeout(j.ctx, q.timeout)
			j.send(ctx)
			cancel()
		}
		q.mu.Lock()
		if len(q.waiting) == 0 {
			q.active--
			q.waiting = nil // let a long-grown backing array go
			q.mu.Unlock()
			return
		}
		j = q.waiting[0]
		q.waiting[0] = job{}
		q.waiting = q.waiting[1:]
		q.mu.Unlock()
	}
}

// Dropped returns how many sends were dropped because the queue was full.
func (q *Queue) Dropped() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// Wait waits until no send is running or waiting. Sends added meanwhile
// are waited for too.
func (q *Queue) Wait() { q.wg.Wait() }
