package feedback

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ErrRateLimited means a voter cast more votes and A/B choices in a
// minute than Options.MaxVotesPerMinute allows; the vote was not stored.
// It matches bot.ErrVoteRefused.
var ErrRateLimited error = voterError("too many votes from one person")

// maxTrackedVoters bounds the voters whose rate is remembered; beyond it,
// voters idle for over a minute are forgotten first.
const maxTrackedVoters = 10000

// voteLimiter allows each voter perMinute votes a minute (and a burst of
// as many).
type voteLimiter struct {
	perMinute int
	now       func() time.Time

	mu     sync.Mutex
	voters map[string]*voterRate
}

type voterRate struct {
	lim  *rate.Limiter
	seen time.Time
}

func newVoteLimiter(perMinute int, now func() time.Time) *voteLimiter {
	if perMinute <= 0 {
		return nil
	}
	return &voteLimiter{perMinute: perMinute, now: now, voters: map[string]*voterRate{}}
}

// allow reports whether voter (a keyed hash) may vote now. A nil limiter
// allows everything.
func (l *voteLimiter) allow(voter string) bool {
	if l == nil {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	v := l.voters[voter]
	if v == nil {
		if len(l.voters) >= maxTrackedVoters {
			for k, old := range l.voters {
				if now.Sub(old.seen) > time.Minute {
					delete(l.voters, k)
				}
			}
			if len(l.voters) >= maxTrackedVoters {
				return false // a flood of new voters: hold until some go idle
			}
		}
		v = &voterRate{lim: rate.NewLimiter(rate.Every(time.Minute/time.Duration(l.perMinute)), l.perMinute)}
		l.voters[voter] = v
	}
	v.seen = now
	return v.lim.AllowN(now, 1)
}
