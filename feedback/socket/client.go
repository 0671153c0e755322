package socket

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// Client runs feedback commands in the process serving the socket at its
// path (see Serve). Each call is one connection.
type Client struct {
	path string
}

// NewClient returns a client for the socket at path. It does not connect.
func NewClient(path string) *Client { return &Client{path: path} }

// call sends req, copies data frames to w and decodes the end frame's
// result into result.
func (c *Client) call(ctx context.Context, req request, w io.Writer, result any) error {
	if err := checkOwner(c.path); err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return fmt.Errorf("%w (%s): %v", ErrNoServer, c.path, err)
	}
	defer conn.Close()
	// The path may have been swapped since it was checked: the process
	// at the other end must be this user's too, before anything is sent.
	if err := checkPeer(conn); err != nil {
		return fmt.Errorf("%w: %s: %v; nothing was sent", ErrNotOurs, c.path, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("feedback socket %s: %w", c.path, err)
	}
	err = readFrames(bufio.NewReaderSize(conn, 64<<10), w, result)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("feedback socket %s: %w", c.path, err)
	}
	return nil
}

// ErrNotOurs means the socket, or the process answering on it, belongs
// to another user: the client sends nothing to it.
var ErrNotOurs = errors.New("feedback socket is not this user's")

// RemoteError is an error the serving process reported.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return "the serving chatloop says: " + e.Msg }

func readFrames(r io.Reader, w io.Writer, result any) error {
	var hdr [5]byte
	buf := make([]byte, 0, 64<<10)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return errors.New("the stream ended early (did the serving chatloop stop?)")
			}
			return err
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > maxFrame {
			return fmt.Errorf("frame of %d bytes exceeds %d", n, maxFrame)
		}
		if uint32(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("reading a frame: %w", err)
		}
		switch hdr[0] {
		case frameData:
			if w == nil {
				return errors.New("unexpected data frame")
			}
			if _, err := w.Write(buf); err != nil {
				return err
			}
		case frameEnd:
			if result == nil {
				return nil
			}
			if err := json.Unmarshal(buf, result); err != nil {
				return fmt.Errorf("decoding the result: %w", err)
			}
			return nil
		case frameError:
			return &RemoteError{Msg: string(buf)}
		default:
			return fmt.Errorf("unknown frame type %q", hdr[0])
		}
	}
}

// Stats is feedback.Store.Stats in the serving process.
func (c *Client) Stats(ctx context.Context) (feedback.Stats, error) {
	return c.StatsWith(ctx, feedback.StatsOptions{})
}

// StatsWith is feedback.Store.StatsWith in the serving process.
func (c *Client) StatsWith(ctx context.Context, o feedback.StatsOptions) (feedback.Stats, error) {
	var st feedback.Stats
	err := c.call(ctx, request{Op: opStats, Stats: &o}, nil, &st)
	return st, err
}

// Export is feedback.Store.Export in the serving process; the rows come to w.
func (c *Client) Export(ctx context.Context, w io.Writer, o feedback.ExportOptions) (int, error) {
	if err := o.Validate(); err != nil {
		return 0, err
	}
	var n int
	err := c.call(ctx, request{Op: opExport, Export: &o}, w, &n)
	return n, err
}

// Backup is feedback.Store.Backup in the serving process; the copy comes to w.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := c.call(ctx, request{Op: opBackup}, w, &n)
	return n, err
}

// Forget is feedback.Store.Forget in the serving process.
func (c *Client) Forget(ctx context.Context, platform string, user bot.UserID, prompts bool) (feedback.Forgotten, error) {
	var f feedback.Forgotten
	err := c.call(ctx, request{Op: opForget, Forget: &forgetRequest{Platform: platform, User: string(user), Prompts: prompts}}, nil, &f)
	return f, err
}
