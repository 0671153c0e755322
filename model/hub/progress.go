package hub

import (
	"fmt"
	"log/slog"
	"time"
)

// LogProgress reports a download as periodic log lines, for when stderr is
// not a terminal.
type LogProgress struct {
	log      *slog.Logger
	file     string
	every    time.Duration
	start    time.Time
	last     time.Time
	first    int64 // bytes already there when the download (re)started
	done     int64
	total    int64
	finished bool
}

// NewLogProgress logs the progress of file at most once per interval.
func NewLogProgress(log *slog.Logger, file string, interval time.Duration) *LogProgress {
	now := time.Now()
	return &LogProgress{log: log, file: file, every: interval, start: now, last: now, first: -1}
}

// Update records the bytes done out of total (-1: unknown).
func (p *LogProgress) Update(done, total int64) {
	if p.first < 0 || done < p.done {
		p.first, p.start = done, time.Now()
	}
	p.done, p.total = done, total
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		p.emit("downloading")
	}
}

// Finish logs the final line.
func (p *LogProgress) Finish() {
	if !p.finished {
		p.finished = true
		if p.total >= 0 && p.done == p.total {
			p.emit("download complete")
		} else {
			p.emit("download stopped")
		}
	}
}

func (p *LogProgress) emit(msg string) {
	elapsed := time.Since(p.start)
	speed := 0.0
	if s := elapsed.Seconds(); s > 0 {
		speed = float64(p.done-p.first) / s
	}
	args := []any{"file", p.file, "done", HumanBytes(p.done), "speed", HumanBytes(int64(speed)) + "/s"}
	if p.total > 0 {
		args = append(args, "size", HumanBytes(p.total), "percent", fmt.Sprintf("%.1f", 100*float64(p.done)/float64(p.total)))
		if speed > 0 && p.done < p.total {
			eta := time.Duration(float64(p.total-p.done) / speed * float64(time.Second))
			args = append(args, "eta", eta.Round(time.Second).String())
		}
	}
	p.log.Info(msg, args...)
}

// HumanBytes writes a size the way people read it: "676.0 MB".
func HumanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
