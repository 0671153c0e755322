// Package socket serves a running chatloop's feedback store to the
// "chatloop feedback" commands of other processes over a unix socket only
// its user can open: while "chatloop run" or "chatloop chat" holds the
// bbolt file's lock, stats, export, backup and forget still work.
package socket

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// ErrNoServer means no process answers on the feedback socket.
var ErrNoServer = errors.New("no chatloop process serves the feedback socket")

// The socket protocol. The client sends one JSON request line; the server
// answers with frames, each a type byte, a big-endian uint32 length and
// that many bytes: any number of data frames, then one end frame (a JSON
// result) or one error frame (a message). A stream that stops before the
// end frame is an error, so a truncated export is never taken for a whole
// one.
const (
	frameData  = 'd'
	frameEnd   = 'k'
	frameError = 'e'

	maxRequest = 64 << 10
	maxFrame   = 1 << 20
)

// Operations the socket serves.
const (
	opStats  = "stats"
	opExport = "export"
	opBackup = "backup"
	opForget = "forget"
)

// Store is what the socket serves: *feedback.Store.
type Store interface {
	StatsWith(ctx context.Context, o feedback.StatsOptions) (feedback.Stats, error)
	Export(ctx context.Context, w io.Writer, o feedback.ExportOptions) (int, error)
	Backup(ctx context.Context, w io.Writer) (int64, error)
	Forget(ctx context.Context, platform string, user bot.UserID, prompts bool) (feedback.Forgotten, error)
}

var _ Store = (*feedback.Store)(nil)

type request struct {
	Op     string                  `json:"op"`
	Export *feedback.ExportOptions `json:"export,omitempty"`
	Forget *forgetRequest          `json:"forget,omitempty"`
	Stats  *feedback.StatsOptions  `json:"stats,omitempty"` // absent: the defaults
}

type forgetRequest struct {
	Platform string `json:"platform"`
	User     string `json:"user"`
	Prompts  bool   `json:"prompts"`
}

// Serve answers stats, export, backup and forget requests for s on a
// unix socket at socketPath until ctx is done, then removes the socket and
// returns once every request in progress has stopped. The socket is mode
// 0600 from the moment it appears, and on Linux connections from other
// users are refused as well. A leftover socket nobody answers on is
// replaced; one a live process answers on is an error.
func Serve(ctx context.Context, s Store, socketPath string, log *slog.Logger) error {
	l, err := Listen(socketPath)
	if err != nil {
		return err
	}
	return l.Serve(ctx, s, log)
}

// Listener is a feedback socket made and listening, not yet served: a
// caller that must not start without its socket (chatloop run) makes it
// first and fails at once when it cannot.
type Listener struct {
	ln   *net.UnixListener
	path string
}

// Listen makes the socket at socketPath (see Serve).
func Listen(socketPath string) (*Listener, error) {
	ln, err := listenPrivate(socketPath)
	if err != nil {
		return nil, err
	}
	return &Listener{ln: ln, path: socketPath}, nil
}

// Serve serves the socket until ctx is done (see the function Serve).
func (l *Listener) Serve(ctx context.Context, s Store, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, socketPath := l.ln, l.path
	log.Info("serving feedback commands", "socket", socketPath)

	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	defer os.Remove(socketPath)
	for {
		c, err := ln.Accept()
		if err != nil {
			wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("feedback socket %s: %w", socketPath, err)
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			continue
		}
		conns[c] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				c.Close()
			}()
			if err := checkPeer(c); err != nil {
				log.Warn("refused a feedback socket connection", "err", err)
				return
			}
			serveConn(ctx, s, c, log)
		}()
	}
}

// listenPrivate creates the socket in a fresh 0700 directory beside
// socketPath, makes it 0600 and renames it into place, so that no other
// user can ever connect to it.
func listenPrivate(socketPath string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(socketPath); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("feedback socket %s: the path exists and is not a socket", socketPath)
		}
		if c, err := net.DialTimeout("unix", socketPath, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("feedback socket %s: another process is serving on it", socketPath)
		}
		if err := os.Remove(socketPath); err != nil {
			return nil, fmt.Errorf("removing stale feedback socket: %w", err)
		}
	}
	dir, err := os.MkdirTemp(filepath.Dir(socketPath), ".chatloop-sock-")
	if err != nil {
		return nil, fmt.Errorf("feedback socket: %w", err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("feedback socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err == nil {
		err = os.Rename(tmp, socketPath)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("feedback socket %s: %w", socketPath, err)
	}
	return ln, nil
}

func serveConn(ctx context.Context, s Store, c net.Conn, log *slog.Logger) {
	begun := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	req, err := readRequest(c)
	c.SetReadDeadline(time.Time{})
	fw := &frameWriter{w: bufio.NewWriterSize(c, 64<<10)}
	if err != nil {
		fw.fail(err)
		log.Warn("bad feedback socket request", "err", err)
		return
	}
	result, err := handle(ctx, s, req, fw)
	if err != nil {
		fw.fail(err)
		log.Warn("feedback socket request failed", "op", req.Op, "err", err)
		return
	}
	fw.end(result)
	log.Info("feedback socket request", "op", req.Op, "took", time.Since(begun))
}

func readRequest(r io.Reader) (request, error) {
	var req request
	line, err := bufio.NewReaderSize(io.LimitReader(r, maxRequest), 4096).ReadBytes('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		return req, fmt.Errorf("reading request: %w", err)
	}
	if err := json.Unmarshal(line, &req); err != nil {
		return req, fmt.Errorf("%w: request: %v", feedback.ErrInvalid, err)
	}
	switch req.Op {
	case opStats, opBackup:
	case opExport:
		if req.Export == nil {
			return req, fmt.Errorf("%w: export request without options", feedback.ErrInvalid)
		}
	case opForget:
		if req.Forget == nil {
			return req, fmt.Errorf("%w: forget request without a user", feedback.ErrInvalid)
		}
	default:
		return req, fmt.Errorf("%w: unknown operation %q", feedback.ErrInvalid, req.Op)
	}
	return req, nil
}

func handle(ctx context.Context, s Store, req request, w io.Writer) (any, error) {
	switch req.Op {
	case opStats:
		var o feedback.StatsOptions
		if req.Stats != nil {
			o = *req.Stats
		}
		return s.StatsWith(ctx, o)
	case opExport:
		n, err := s.Export(ctx, w, *req.Export)
		return n, err
	case opBackup:
		n, err := s.Backup(ctx, w)
		return n, err
	case opForget:
		f := req.Forget
		return s.Forget(ctx, f.Platform, bot.UserID(f.User), f.Prompts)
	}
	return nil, fmt.Errorf("%w: unknown operation %q", feedback.ErrInvalid, req.Op)
}

// frameWriter writes data frames; end and fail finish the stream.
type frameWriter struct {
	w   *bufio.Writer
	err error
}

func (fw *frameWriter) frame(kind byte, p []byte) error {
	if fw.err != nil {
		return fw.err
	}
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, err := fw.w.Write(hdr[:]); err != nil {
		fw.err = err
		return err
	}
	if _, err := fw.w.Write(p); err != nil {
		fw.err = err
	}
	return fw.err
}

func (fw *frameWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), maxFrame)]
		if err := fw.frame(frameData, chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

func (fw *frameWriter) end(result any) {
	b, err := json.Marshal(result)
	if err != nil {
		fw.fail(err)
		return
	}
	if fw.frame(frameEnd, b) == nil {
		fw.w.Flush()
	}
}

func (fw *frameWriter) fail(err error) {
	msg := err.Error()
	if len(msg) > maxFrame {
		msg = msg[:maxFrame]
	}
	if fw.frame(frameError, []byte(msg)) == nil {
		fw.w.Flush()
	}
}
