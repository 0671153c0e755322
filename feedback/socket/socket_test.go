package socket

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

var bg = context.Background()

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// openTest opens a new feedback store in a temporary directory.
func openTest(t testing.TB) *feedback.Store {
	t.Helper()
	s, err := feedback.Open(filepath.Join(t.TempDir(), "feedback.db"), feedback.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// answer is a sent answer in group g of discord chat c to u1's "q".
func answer(id string) bot.Answer {
	return bot.Answer{
		ID: bot.AnswerID(id), GroupID: "g", Platform: "discord", ChatID: "c", AskerID: "u1",
		Created: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Prompt:  []bot.Turn{{Role: "user", Content: "q"}}, Text: "answer " + id,
		Model: bot.ModelInfo{Backend: "local", Name: "m"}, Sent: true,
	}
}

// serveTest runs Serve on s in the background until the test ends.
func serveTest(t *testing.T, s Store, socket string) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, s, socket, nil) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := net.Dial("unix", socket); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Serve returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the socket never appeared")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var stopped bool
	var result error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestServeSocketIsPrivateAndCleanedUp(t *testing.T) {
	s := openTest(t)
	socket := filepath.Join(t.TempDir(), "fb.sock")
	stop := serveTest(t, s, socket)
	fi, err := os.Lstat(socket)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(socket))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want the socket alone", len(entries))
	}
	// A second server on a live socket is refused.
	if err := Serve(context.Background(), s, socket, nil); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("second Serve: got %v", err)
	}
	if _, err := NewClient(socket).Stats(bg); err != nil {
		t.Errorf("the first server stopped answering: %v", err)
	}
	if err := stop(); err != nil {
		t.Errorf("Serve returned %v after cancel", err)
	}
	if _, err := os.Lstat(socket); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left behind after Serve returned: %v", err)
	}
}

func TestServeReplacesStaleSocketRefusesOtherFiles(t *testing.T) {
	s := openTest(t)
	dir := t.TempDir()
	// A stale socket: bound, then its listener closed without unlinking.
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	must(t, err)
	ln.SetUnlinkOnClose(false)
	ln.Close()
	serveTest(t, s, stale)
	if _, err := NewClient(stale).Stats(bg); err != nil {
		t.Errorf("serving on a replaced stale socket: %v", err)
	}

	regular := filepath.Join(dir, "notes.txt")
	must(t, os.WriteFile(regular, []byte("keep me"), 0o600))
	if err := Serve(context.Background(), s, regular, nil); err == nil {
		t.Error("Serve over a regular file succeeded")
	}
	if b, _ := os.ReadFile(regular); string(b) != "keep me" {
		t.Error("Serve clobbered a regular file")
	}
}

func TestServeStopsMidExport(t *testing.T) {
	s := openTest(t)
	// About 2 MB of export: more than the socket's buffers hold.
	long := strings.Repeat("Read the tour, then write a small program every day. ", 80)
	for i := range 500 {
		a := answer(padID(i))
		a.Text = long
		must(t, s.RecordAnswer(bg, a))
	}
	socket := filepath.Join(t.TempDir(), "fb.sock")
	stop := serveTest(t, s, socket)
	r, w := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := NewClient(socket).Export(bg, w, feedback.ExportOptions{Format: feedback.FormatRaw})
		w.CloseWithError(err)
		errc <- err
	}()
	br := bufio.NewReader(r)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	// Stop the server while the client is not reading: Serve must still
	// return, cutting the export off.
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return while an export was in progress")
	}
	io.Copy(io.Discard, br)
	if err := <-errc; err == nil {
		t.Error("an export cut off by the server's stop reported success")
	}
}

func padID(i int) string {
	const digits = "0123456789"
	b := []byte("a000000")
	for j := len(b) - 1; j > 0 && i > 0; j-- {
		b[j] = digits[i%10]
		i /= 10
	}
	return string(b)
}

func TestReadFramesRejectsTruncatedStreams(t *testing.T) {
	var full bytes.Buffer
	fw := &frameWriter{w: bufio.NewWriter(&full)}
	fw.Write([]byte("row 1\nrow 2\n"))
	fw.end(2)
	stream := full.Bytes()

	var got bytes.Buffer
	var n int
	must(t, readFrames(bytes.NewReader(stream), &got, &n))
	if got.String() != "row 1\nrow 2\n" || n != 2 {
		t.Fatalf("got %q, %d", got.String(), n)
	}
	for cut := range len(stream) {
		if err := readFrames(bytes.NewReader(stream[:cut]), io.Discard, &n); err == nil {
			t.Errorf("a stream cut at %d of %d bytes was accepted", cut, len(stream))
		}
	}
	var failed bytes.Buffer
	fw = &frameWriter{w: bufio.NewWriter(&failed)}
	fw.fail(errors.New("disk on fire"))
	var re *RemoteError
	if err := readFrames(&failed, io.Discard, nil); !errors.As(err, &re) || re.Msg != "disk on fire" {
		t.Errorf("error frame: got %v", err)
	}
}

// FuzzServeRequest sends arbitrary request lines to the server side and
// checks that the answer is always a well-formed stream ending in an end
// or error frame.
func FuzzServeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"op":"stats"}`,
		`{"op":"export","export":{"format":"preference"}}`,
		`{"op":"export","export":{"format":"raw","since":"2026-01-01T00:00:00Z","min_votes":1}}`,
		`{"op":"export"}`,
		`{"op":"backup"}`,
		`{"op":"forget","forget":{"platform":"discord","user":"u1","prompts":true}}`,
		`{"op":"forget"}`,
		`{"op":"nope"}`,
		`not json`,
		``,
	} {
		f.Add([]byte(seed + "\n"))
	}
	s := openTest(f)
	must(f, s.RecordAnswer(bg, answer("a1")))
	must(f, s.RecordAnswer(bg, answer("a2")))
	must(f, s.Vote(bg, "a1", "discord", "u2", 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		fw := &frameWriter{w: bufio.NewWriter(&out)}
		req, err := readRequest(bytes.NewReader(data))
		if err == nil {
			var result any
			result, err = handle(bg, s, req, fw)
			if err == nil {
				fw.end(result)
			}
		}
		if err != nil {
			fw.fail(err)
		}
		var re *RemoteError
		if err := readFrames(&out, io.Discard, new(any)); err != nil && !errors.As(err, &re) {
			t.Errorf("request %q: malformed answer: %v", data, err)
		}
	})
}

// FuzzReadFrames feeds arbitrary bytes to the client's frame reader.
func FuzzReadFrames(f *testing.F) {
	var buf bytes.Buffer
	fw := &frameWriter{w: bufio.NewWriter(&buf)}
	fw.Write([]byte("x\n"))
	fw.end(map[string]int{"n": 1})
	f.Add(buf.Bytes())
	f.Add([]byte{'e', 0, 0, 0, 3, 'b', 'a', 'd'})
	f.Add([]byte{'d', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{'k', 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var result map[string]any
		readFrames(bytes.NewReader(data), io.Discard, &result)
	})
}
