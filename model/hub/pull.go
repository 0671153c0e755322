package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chatloop/chatloop/model/internal/httpwait"
)

// Errors a pull can end with, wrapped with details.
var (
	// ErrUnauthorized: the server refused the file (401/403), usually a
	// gated repository without an accepted licence or HF_TOKEN.
	ErrUnauthorized = errors.New("access denied")
	// ErrNotFound: no such repository or file (404).
	ErrNotFound = errors.New("file not found")
	// ErrChecksum: the downloaded bytes do not have the published SHA-256.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrUnreachable: the server could not be reached at all (offline,
	// DNS, connection refused, timeout).
	ErrUnreachable = errors.New("server unreachable")
	// ErrBusy: another process is downloading the same file right now.
	ErrBusy = errors.New("another process is downloading this file")
)

// DefaultEndpoint is Hugging Face itself; HF_ENDPOINT names a mirror.
const DefaultEndpoint = "https://huggingface.co"

// Progress shows how far a download is. total is -1 when unknown.
type Progress interface {
	Update(done, total int64)
	Finish()
}

// Puller downloads models into a Cache.
type Puller struct {
	// HTTP is the client used; nil means NewHTTPClient(10 * time.Second).
	HTTP *http.Client
	// Endpoint is the Hugging Face endpoint (HF_ENDPOINT); empty means
	// DefaultEndpoint.
	Endpoint string
	// Token is sent as a bearer token to the endpoint's host only
	// (HF_TOKEN), never to a CDN a download is redirected to.
	Token string
	// Log receives retries and warnings; nil discards them.
	Log *slog.Logger
	// NewProgress makes the progress display of one download; nil shows
	// none.
	NewProgress func(file string) Progress
	// Retries is how many times in a row an interrupted download is
	// resumed without any progress before giving up; 0 means 5.
	Retries int
	// RetryDelay is the first backoff delay, doubled each time up to 30s;
	// 0 means 1s.
	RetryDelay time.Duration
	// StallTimeout aborts (and then resumes) a download that receives no
	// byte for this long; 0 means 60s.
	StallTimeout time.Duration
	// MaxSize caps a download whose size is neither declared by the
	// server nor known from the catalogue; 0 means DefaultMaxSize.
	MaxSize int64

	defaultHTTP sync.Once
}

// NewHTTPClient returns a client for model downloads: proxies from the
// environment, the system's CA bundle, connectTimeout to connect and for
// the TLS handshake, and no overall timeout (files are large).
func NewHTTPClient(connectTimeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	tr.DialContext = (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = connectTimeout
	tr.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: tr}
}

// Remote describes a file on the server, as learnt before downloading it.
type Remote struct {
	Source Source
	// URL is the download address (before any CDN redirect).
	URL string
	// Size in bytes; -1 when the server does not say.
	Size int64
	// SHA256 is the digest Hugging Face publishes for LFS files
	// (X-Linked-Etag), lower-case hex; empty when none is published.
	SHA256 string
}

func (p *Puller) client() *http.Client {
	p.defaultHTTP.Do(func() {
		if p.HTTP == nil {
			p.HTTP = NewHTTPClient(10 * time.Second)
		}
	})
	return p.HTTP
}

func (p *Puller) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (p *Puller) endpoint() string {
	if p.Endpoint != "" {
		return strings.TrimRight(p.Endpoint, "/")
	}
	return DefaultEndpoint
}

// authorize adds the token to requests for the endpoint's own host.
func (p *Puller) authorize(req *http.Request) {
	if p.Token == "" {
		return
	}
	ep, err := url.Parse(p.endpoint())
	if err == nil && strings.EqualFold(ep.Host, req.URL.Host) {
		req.Header.Set("Authorization", "Bearer "+p.Token)
	} else {
		req.Header.Del("Authorization")
	}
}

// Resolve asks the server about a file without downloading it: its size
// and published checksum. Hugging Face answers a HEAD on
// /REPO/resolve/main/FILE with a redirect to its CDN carrying
// X-Linked-Size and X-Linked-Etag; redirects are followed by hand so that
// those headers are seen.
func (p *Puller) Resolve(ctx context.Context, src Source) (Remote, error) {
	rem := Remote{Source: src, URL: src.DownloadURL(p.endpoint()), Size: -1}
	base := *p.client()
	base.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	target := rem.URL
	for hop, tries := 0, 0; ; {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, target, nil)
		if err != nil {
			return rem, fmt.Errorf("%s: %w", src, err)
		}
		req.Header.Set("Accept-Encoding", "identity") // sizes of the bytes themselves
		p.authorize(req)
		resp, err := base.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return rem, fmt.Errorf("%s: %w", src, ctx.Err())
			}
			return rem, fmt.Errorf("%w: %s: %v", ErrUnreachable, hostOf(target), unwrapURLError(err))
		}
		resp.Body.Close()
		if sum := etagSHA256(resp.Header.Get("X-Linked-Etag")); sum != "" && rem.SHA256 == "" {
			rem.SHA256 = sum
		}
		if n, err := strconv.ParseInt(resp.Header.Get("X-Linked-Size"), 10, 64); err == nil && n >= 0 && rem.Size < 0 {
			rem.Size = n
		}
		switch code := resp.StatusCode; {
		case code >= 300 && code < 400:
			if rem.SHA256 != "" && rem.Size >= 0 {
				return rem, nil // the CDN need not be asked
			}
			loc, err := resp.Location()
			if err != nil || hop >= 10 {
				return rem, fmt.Errorf("%s: bad redirect (%d) from %s", src, code, hostOf(target))
			}
			target = loc.String()
			hop++
		case code >= 200 && code < 300:
			if rem.Size < 0 && resp.ContentLength >= 0 {
				rem.Size = resp.ContentLength
			}
			if rem.SHA256 == "" {
				rem.SHA256 = etagSHA256(resp.Header.Get("ETag"))
			}
			return rem, nil
		case code == http.StatusMethodNotAllowed || code == http.StatusNotImplemented:
			return rem, nil // no HEAD: learn the size from the download
		default:
			if err := statusError(src, code, p.Token != ""); !isRetryable(err) || tries >= 2 {
				return rem, err
			}
			tries++
			if err := httpwait.Sleep(ctx, p.backoff(tries, resp.Header)); err != nil {
				return rem, err
			}
		}
	}
}

// Pull downloads src into cache unless an identical file is already there,
// and returns the cached model. An interrupted download resumes from its
// .part file, now or on the next Pull; the file is renamed into place only
// when complete and, where a checksum is published, verified.
func (p *Puller) Pull(ctx context.Context, src Source, cache Cache) (CachedModel, error) {
	rem, err := p.Resolve(ctx, src)
	if err != nil {
		return CachedModel{}, err
	}
	return p.Download(ctx, rem, cache)
}

// Download fetches a resolved file into cache (see Pull).
func (p *Puller) Download(ctx context.Context, rem Remote, cache Cache) (CachedModel, error) {
	file := rem.Source.FileName()
	final := cache.PathFor(rem.Source)
	want := sourceID(rem.Source)
	cache.adopt(rem.Source)
	if checkFileName(file) == nil {
		cache.adoptByHand(rem, final)
	}
	published := "the server published"
	if e, ok := catalogueEntry(want); ok && e.SHA256 != "" {
		published = "the catalogue pins"
		if rem.SHA256 != "" && rem.SHA256 != e.SHA256 {
			p.log().Warn("the server publishes another checksum than the catalogue pins; the pin wins", "file", file, "published", rem.SHA256, "pinned", e.SHA256)
		}
		rem.SHA256 = e.SHA256
	}
	if m, err := cache.statAt(final); err == nil {
		same := m.Source == want
		switch {
		case same && rem.SHA256 != "" && m.SHA256 == rem.SHA256:
			return m, nil
		case same && rem.SHA256 == "" && m.SHA256 != "" && (rem.Size < 0 || rem.Size == m.Size):
			return m, nil
		case m.Source == "" && rem.SHA256 != "" && m.Size == rem.Size:
			// A file put there by hand: keep it if it is the same one.
			if sum, err := fileSHA256(final); err == nil && sum == rem.SHA256 {
				if err := writeChecksum(final, sum); err != nil {
					return CachedModel{}, err
				}
				if err := writeSource(final, rem.Source); err != nil {
					return CachedModel{}, err
				}
				return cache.statAt(final)
			}
		}
		if same || m.Source == "" {
			p.log().Info("cached model differs from the server's, downloading again", "file", file)
		} else {
			p.log().Warn("the cached file of this name comes from another source; replacing it", "file", file, "cached_from", m.Source, "pulling", want)
		}
		for _, q := range []string{final + checksumSuffix, final + sourceSuffix} {
			if err := os.Remove(q); err != nil && !errors.Is(err, os.ErrNotExist) {
				return CachedModel{}, fmt.Errorf("model cache: %w", err)
			}
		}
	}
	if err := cache.makeSourceDir(final); err != nil {
		return CachedModel{}, err
	}
	part := final + partSuffix
	f, err := openNoFollow(part, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return CachedModel{}, err
	}
	defer f.Close()
	if err := lockPart(f); err != nil {
		return CachedModel{}, fmt.Errorf("%s: %w (wait for it to finish, or stop it)", file, err)
	}
	// The other process may have finished while this one waited to open.
	if m, err := cache.statAt(final); err == nil && rem.SHA256 != "" && m.SHA256 == rem.SHA256 && m.Source == want {
		if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
			os.Remove(part)
		}
		return m, nil
	}

	d := &download{p: p, rem: rem, f: f, h: sha256.New()}
	if d.done, err = io.Copy(d.h, f); err != nil {
		return CachedModel{}, fmt.Errorf("model cache: reading %s: %w", part, err)
	}
	if rem.Size >= 0 && d.done > rem.Size {
		if err := d.restart(); err != nil {
			return CachedModel{}, err
		}
	}
	if d.done > 0 {
		p.log().Info("resuming download", "file", file, "have", d.done, "size", rem.Size)
	}
	resumed := d.done > 0
	if p.NewProgress != nil {
		d.prog = p.NewProgress(file)
		d.prog.Update(d.done, rem.Size)
	}
	err = d.run(ctx)
	sum := hex.EncodeToString(d.h.Sum(nil))
	if err == nil && resumed && rem.SHA256 != "" && sum != rem.SHA256 {
		// The bytes kept from an earlier run may be what is wrong.
		p.log().Warn("checksum mismatch after resuming, downloading the whole file again", "file", file)
		if err = d.restart(); err == nil {
			err = d.run(ctx)
		}
		sum = hex.EncodeToString(d.h.Sum(nil))
	}
	if d.prog != nil {
		d.prog.Finish()
	}
	if errors.Is(err, errTooLarge) {
		f.Close()
		os.Remove(part)
	}
	if err != nil {
		return CachedModel{}, err
	}
	if rem.SHA256 != "" && sum != rem.SHA256 {
		f.Close()
		os.Remove(part)
		cache.removeEmptyDirs(final)
		return CachedModel{}, fmt.Errorf("%w for %s: got sha256 %s, %s %s; the download was deleted, pull again", ErrChecksum, file, sum, published, rem.SHA256)
	}
	if rem.SHA256 == "" {
		p.log().Warn("the server publishes no checksum for this file; recording the downloaded file's", "file", file, "sha256", sum)
	}
	if err := f.Sync(); err != nil {
		return CachedModel{}, fmt.Errorf("model cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return CachedModel{}, fmt.Errorf("model cache: %w", err)
	}
	if err := writeChecksum(final, sum); err != nil {
		return CachedModel{}, err
	}
	if err := writeSource(final, rem.Source); err != nil {
		return CachedModel{}, err
	}
	if err := os.Rename(part, final); err != nil {
		// Windows does not rename over an existing (outdated) file.
		if rmErr := os.Remove(final); rmErr != nil || os.Rename(part, final) != nil {
			return CachedModel{}, fmt.Errorf("model cache: %w", err)
		}
	}
	return cache.statAt(final)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// download is the state of one file's transfer: f and h always hold the
// same done bytes.
type download struct {
	p    *Puller
	rem  Remote
	f    *os.File
	h    hash.Hash
	done int64
	prog Progress
	// badResumes counts answers to a resume that forced a restart (a
	// wrong Content-Range, an ignored or refused range).
	badResumes int
}

// badResume restarts the download after a server's bad answer to a
// resume, and gives up after MaxBadResumes of them.
func (d *download) badResume(what string) error {
	d.badResumes++
	if d.badResumes > MaxBadResumes {
		return fmt.Errorf("download of %s: the server %s %d times; giving up on resuming from it (a broken or hostile mirror?)", d.rem.Source.FileName(), what, d.badResumes)
	}
	return d.restart()
}

func (d *download) restart() error {
	if err := d.f.Truncate(0); err != nil {
		return fmt.Errorf("model cache: %w", err)
	}
	d.h.Reset()
	d.done = 0
	if d.prog != nil {
		d.prog.Update(0, d.rem.Size)
	}
	return nil
}

// run fetches until the file is complete, resuming after interruptions.
func (d *download) run(ctx context.Context) error {
	retries := d.p.Retries
	if retries <= 0 {
		retries = 5
	}
	for failures := 0; ; {
		if d.rem.Size >= 0 && d.done == d.rem.Size {
			return nil // a complete part file, left by a run stopped before its rename
		}
		before := d.done
		complete, err := d.fetch(ctx)
		if err == nil && complete {
			return nil
		}
		if err == nil {
			err = retryable(fmt.Errorf("connection closed at byte %d of %d", d.done, d.rem.Size), 0)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("download of %s stopped at byte %d (run the pull again to resume): %w", d.rem.Source.FileName(), d.done, ctx.Err())
		}
		if !isRetryable(err) {
			return err
		}
		if d.done > before {
			failures = 0
		}
		failures++
		if failures > retries {
			return fmt.Errorf("download of %s failed %d times at byte %d (run the pull again to resume): %w", d.rem.Source.FileName(), failures, d.done, err)
		}
		wait := d.p.backoff(failures, nil)
		var re *retryError
		if errors.As(err, &re) && re.after > 0 {
			wait = re.after
		}
		d.p.log().Warn("download interrupted, resuming", "file", d.rem.Source.FileName(), "at", d.done, "err", err, "wait", wait)
		if err := httpwait.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("download of %s stopped at byte %d (run the pull again to resume): %w", d.rem.Source.FileName(), d.done, err)
		}
	}
}

// fetch makes one GET from d.done on and appends what arrives. It reports
// whether the file is complete.
func (d *download) fetch(parent context.Context) (bool, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.rem.URL, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept-Encoding", "identity") // ranges count stored bytes
	if d.done > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", d.done))
	}
	d.p.authorize(req)
	c := *d.p.client()
	c.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		d.p.authorize(r) // the token never follows a redirect to another host
		return nil
	}
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, retryable(fmt.Errorf("%s: %v", hostOf(d.rem.URL), unwrapURLError(err)), 0)
	}
	defer resp.Body.Close()

	switch code := resp.StatusCode; {
	case code == http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != d.done {
			if err := d.badResume(fmt.Sprintf("resumed at the wrong offset (%q)", resp.Header.Get("Content-Range"))); err != nil {
				return false, err
			}
			return false, retryable(fmt.Errorf("server resumed at the wrong offset (%q); starting over", resp.Header.Get("Content-Range")), 0)
		}
		if d.rem.Size < 0 && total >= 0 {
			d.rem.Size = total
		}
	case code == http.StatusOK:
		if d.done > 0 {
			d.p.log().Info("server ignored the range request, starting over", "file", d.rem.Source.FileName())
			if err := d.badResume("ignored the range request"); err != nil {
				return false, err
			}
		}
		if d.rem.Size < 0 && resp.ContentLength >= 0 {
			d.rem.Size = resp.ContentLength
		}
	case code == http.StatusRequestedRangeNotSatisfiable:
		if d.rem.Size >= 0 && d.done == d.rem.Size {
			return true, nil
		}
		if err := d.badResume("refused to resume"); err != nil {
			return false, err
		}
		return false, retryable(errors.New("server refused to resume; starting over"), 0)
	default:
		err := statusError(d.rem.Source, code, d.p.Token != "")
		var re *retryError
		if errors.As(err, &re) {
			re.after = httpwait.RetryAfter(resp.Header, 5*time.Minute)
		}
		return false, err
	}

	if _, err := d.f.Seek(d.done, io.SeekStart); err != nil {
		return false, fmt.Errorf("model cache: %w", err)
	}
	stall := d.p.StallTimeout
	if stall <= 0 {
		stall = 60 * time.Second
	}
	watchdog := time.AfterFunc(stall, cancel)
	defer watchdog.Stop()
	buf := make([]byte, 256<<10)
	for {
		if err := parent.Err(); err != nil {
			return false, err
		}
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			watchdog.Reset(stall)
			if limit, what := sizeLimit(d.rem, d.p.MaxSize); d.done+int64(n) > limit {
				return false, fmt.Errorf("%w: %s: the server sent more than %d bytes (%s)", errTooLarge, d.rem.Source.FileName(), limit, what)
			}
			if _, werr := d.f.Write(buf[:n]); werr != nil {
				// Keep the part file equal to what was hashed.
				d.f.Truncate(d.done)
				return false, fmt.Errorf("model cache: writing %s: %w", d.f.Name(), werr)
			}
			d.h.Write(buf[:n])
			d.done += int64(n)
			if d.prog != nil {
				d.prog.Update(d.done, d.rem.Size)
			}
		}
		if rerr == io.EOF {
			return d.rem.Size < 0 || d.done == d.rem.Size, nil
		}
		if rerr != nil {
			if ctx.Err() != nil { // the watchdog, or the caller (run tells which)
				return false, retryable(fmt.Errorf("no data for %s", stall), 0)
			}
			return false, retryable(fmt.Errorf("connection lost at byte %d: %v", d.done, rerr), 0)
		}
	}
}

// retryError marks a failure worth retrying, with the server's requested
// delay if it gave one.
type retryError struct {
	err   error
	after time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

func retryable(err error, after time.Duration) error { return &retryError{err: err, after: after} }

func isRetryable(err error) bool {
	var re *retryError
	return errors.As(err, &re)
}

func statusError(src Source, code int, haveToken bool) error {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		hint := "the repository may be gated: accept its licence on the website and set HF_TOKEN"
		if haveToken {
			hint = "the repository may be gated: check that HF_TOKEN is valid and that its licence was accepted"
		}
		return fmt.Errorf("%w (%d) to %s: %s", ErrUnauthorized, code, src, hint)
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: %s (404)", ErrNotFound, src)
	case code == http.StatusTooManyRequests || code >= 500:
		return retryable(fmt.Errorf("%s: server answered %d", src, code), 0)
	}
	return fmt.Errorf("%s: server answered %d", src, code)
}

func (p *Puller) backoff(n int, h http.Header) time.Duration {
	if d := httpwait.RetryAfter(h, 5*time.Minute); d > 0 {
		return d
	}
	base := p.RetryDelay
	if base <= 0 {
		base = time.Second
	}
	d := base
	for i := 1; i < n && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// etagSHA256 extracts a SHA-256 from an ETag value such as
// `"abc…"` or `W/"abc…"`; anything else (a git blob id) gives "".
func etagSHA256(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
	v = strings.ToLower(strings.Trim(v, `"`))
	if isSHA256(v) {
		return v
	}
	return ""
}

// parseContentRange reads "bytes START-END/TOTAL" (TOTAL may be "*", -1).
func parseContentRange(v string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	s, e, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(s, 10, 64)
	end, err2 := strconv.ParseInt(e, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		t, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || t <= end {
			return 0, 0, false
		}
		total = t
	}
	return start, total, true
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return "server"
}

// unwrapURLError drops url.Error's "Get URL:" prefix, which may carry a
// presigned CDN address.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
