package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"
)

// Resolver finds the GGUF file to load for a configured path or catalogue
// name, downloading a catalogue model into the cache on first use.
type Resolver struct {
	// Cache holds pulled models.
	Cache Cache
	// Puller downloads what the cache lacks; its Endpoint also names the
	// download address in the offline error.
	Puller *Puller
	// Confirm is asked before a download; false declines it. nil
	// downloads without asking (and logs that it does).
	Confirm func(d Download) bool
	// ResolveTimeout bounds asking the server about the file; 0 means
	// 20s, after which the server counts as unreachable.
	ResolveTimeout time.Duration
	// Log receives what is downloaded; nil discards it.
	Log *slog.Logger
}

// Download describes a download about to start, for Resolver.Confirm.
type Download struct {
	Source Source
	// Size is the file's size for people: "676.0 MB", or "size unknown".
	Size string
	// Host is the server the file comes from.
	Host string
	// Dir is the cache directory it goes to.
	Dir string
}

// ErrDeclined is returned when Confirm declines a download.
var ErrDeclined = errors.New("download declined")

// Resolve returns the file to load: path when it names an existing file
// (or anything that is not a model reference: the loader then reports the
// missing file), else the model path or name refers to (a catalogue name,
// hf://OWNER/REPO/FILE.gguf or an https:// URL), from the cache or
// downloaded into it. When the server cannot be reached it fails at once
// with an error naming the file, its download URL and the --model flag.
func (r *Resolver) Resolve(ctx context.Context, path, name string) (string, error) {
	ref := name
	if path != "" {
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
		// --model qwen3-1.7b or --model hf://…: a reference, not a file.
		if src, err := ParseSource(path); err != nil || (src.Name == "" && !strings.Contains(path, "://")) {
			return path, nil // the engine reports the missing file
		}
		ref = path
	}
	if ref == "" {
		ref = DefaultModel
	}
	src, err := ParseSource(ref)
	if err != nil {
		return "", fmt.Errorf("key model.name: %w", err)
	}
	if m, err := r.Cache.Find(ref); err == nil {
		return m.Path, nil
	}

	timeout := r.ResolveTimeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	rem, err := r.Puller.Resolve(rctx, src)
	cancel()
	if err != nil {
		if errors.Is(err, ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) {
			return "", r.offline(src, err)
		}
		return "", fmt.Errorf("model %s is not cached and cannot be downloaded: %w", src, err)
	}
	d := Download{Source: src, Size: "size unknown", Host: hostName(rem.URL), Dir: r.Cache.Dir}
	if rem.Size >= 0 {
		d.Size = HumanBytes(rem.Size)
	}
	if r.Confirm != nil {
		if !r.Confirm(d) {
			return "", fmt.Errorf("no model: %w; run \"chatloop model pull %s\" later, or pass --model FILE.gguf", ErrDeclined, src)
		}
	} else {
		r.log().Info("downloading the model on first use", "model", src.String(), "size", d.Size, "from", d.Host, "cache", d.Dir)
	}
	m, err := r.Puller.Download(ctx, rem, r.Cache)
	if err != nil {
		if errors.Is(err, ErrUnreachable) {
			return "", r.offline(src, err)
		}
		return "", err
	}
	r.log().Info("model ready", "path", m.Path, "sha256", m.SHA256)
	return m.Path, nil
}

func (r *Resolver) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// offline is the error for a model that is not cached while the server
// cannot be reached: what to download from where, and how to pass it.
func (r *Resolver) offline(src Source, err error) error {
	return OfflineError(src, r.Puller.endpoint(), err)
}

// OfflineError says that src is not cached and the server at endpoint
// cannot be reached (err), where to download the file by hand and how to
// pass it with --model.
func OfflineError(src Source, endpoint string, err error) error {
	return fmt.Errorf("the model %s is not cached and the server cannot be reached (%w).\n"+
		"Download %s from\n  %s\non a connected machine (or set HF_ENDPOINT to a mirror such as https://hf-mirror.com),\n"+
		"then run with --model /path/to/%s (or set [model] path in chatloop.toml)",
		src, err, src.FileName(), src.DownloadURL(endpoint), src.FileName())
}

func hostName(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return raw
}
