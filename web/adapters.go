package web

import (
	"os"
	"sort"
	"sync"
	"time"
)

// AdapterState is one adapter's state on the Adapters page.
type AdapterState struct {
	Name    string
	Running bool
	Since   time.Time // when it started or stopped, or its connection changed
	// Reported is true once the running adapter has said whether it is
	// connected to its platform (Up or Down); until then it is starting.
	Reported bool
	// Connected is what it said last; Down is why it is not connected.
	Connected bool
	Down      string
	LastError string
	ErrorAt   time.Time
	// QRFile is where the adapter writes a login QR code (WeChat) while
	// one waits to be scanned; empty when it has none.
	QRFile string
	// NeedsScan is true while QRFile exists.
	NeedsScan bool
}

// Adapters keeps the state of the running adapters for the page. The
// command that runs them reports starts and stops. It is safe for
// concurrent use.
type Adapters struct {
	mu     sync.Mutex
	now    func() time.Time
	states map[string]*AdapterState
}

// NewAdapters makes an empty tracker; now nil means time.Now.
func NewAdapters(now func() time.Time) *Adapters {
	if now == nil {
		now = time.Now
	}
	return &Adapters{now: now, states: map[string]*AdapterState{}}
}

// Add registers an adapter before it starts; qrFile is where it writes a
// login QR code, if it ever does.
func (a *Adapters) Add(name, qrFile string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.states[name] = &AdapterState{Name: name, QRFile: qrFile, Since: a.now()}
}

// Started records that an adapter runs.
func (a *Adapters) Started(name string) { a.set(name, true, nil) }

// Stopped records that an adapter stopped, with the error it stopped with
// (nil for a clean stop).
func (a *Adapters) Stopped(name string, err error) { a.set(name, false, err) }

// Up records that a running adapter is connected to its platform. It
// changes nothing when the adapter already said so, so that an adapter may
// say it after every successful poll.
func (a *Adapters) Up(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.state(name)
	if !s.Running || s.Reported && s.Connected {
		return
	}
	s.Reported, s.Connected, s.Down, s.Since = true, true, "", a.now()
}

// Down records that a running adapter is not connected to its platform,
// and why; it is retrying.
func (a *Adapters) Down(name string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.state(name)
	if !s.Running {
		return
	}
	if !s.Reported || s.Connected {
		s.Since = a.now()
	}
	s.Reported, s.Connected, s.Down = true, false, err.Error()
	s.LastError, s.ErrorAt = s.Down, a.now()
}

// Failed records an error an adapter reported without stopping.
func (a *Adapters) Failed(name string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.state(name)
	s.LastError, s.ErrorAt = err.Error(), a.now()
}

func (a *Adapters) set(name string, running bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.state(name)
	s.Running, s.Since = running, a.now()
	s.Reported, s.Connected, s.Down = false, false, ""
	if err != nil {
		s.LastError, s.ErrorAt = err.Error(), s.Since
	}
}

func (a *Adapters) state(name string) *AdapterState {
	s := a.states[name]
	if s == nil {
		s = &AdapterState{Name: name}
		a.states[name] = s
	}
	return s
}

// States lists the adapters by name, noting which wait for a QR scan.
func (a *Adapters) States() []AdapterState {
	a.mu.Lock()
	out := make([]AdapterState, 0, len(a.states))
	for _, s := range a.states {
		out = append(out, *s)
	}
	a.mu.Unlock()
	for i := range out {
		if out[i].QRFile != "" {
			_, err := os.Stat(out[i].QRFile)
			out[i].NeedsScan = err == nil && out[i].Running
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
