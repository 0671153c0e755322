// Package redact keeps configured secrets out of logs: one slog.Handler,
// installed in main around the real one, replaces every secret value
// wherever it appears in a record (message, attributes, errors, groups),
// so that an error body echoed by a proxy (`Authorization: Bot <token>`,
// `corpsecret=…`) is logged without the secret.
package redact

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Mask replaces a secret.
const Mask = "[REDACTED]"

// minLen is the shortest value treated as a secret: shorter ones would
// mask ordinary text and cannot be real tokens.
const minLen = 6

// Secrets is a set of values to mask. The zero value is empty and ready;
// values may be added while loggers use it.
type Secrets struct {
	mu   sync.RWMutex
	vals []string
	rep  *strings.Replacer
}

// Add adds secret values (and their URL-encoded forms); values shorter than
// six bytes are ignored.
func (s *Secrets) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) < minLen {
			continue
		}
		s.vals = append(s.vals, v)
		if q := url.QueryEscape(v); q != v {
			s.vals = append(s.vals, q)
		}
		if p := url.PathEscape(v); p != v {
			s.vals = append(s.vals, p)
		}
	}
	pairs := make([]string, 0, 2*len(s.vals))
	for _, v := range s.vals {
		pairs = append(pairs, v, Mask)
	}
	s.rep = strings.NewReplacer(pairs...)
}

// String returns text with every secret masked. A nil set masks nothing.
func (s *Secrets) String(text string) string {
	if s == nil {
		return text
	}
	s.mu.RLock()
	rep := s.rep
	s.mu.RUnlock()
	if rep == nil {
		return text
	}
	return rep.Replace(text)
}

// Handler masks secrets in records before its inner handler sees them.
// Attributes bound with With are kept and masked at each record, so that
// secrets added after the binding are masked in them too.
type Handler struct {
	inner slog.Handler
	set   *Secrets
	ops   []op // With and WithGroup calls, applied in order at Handle
}

// op is one With (attrs) or WithGroup (group) call.
type op struct {
	group string
	attrs []slog.Attr
}

// NewHandler wraps inner so that every value in set is masked.
func NewHandler(inner slog.Handler, set *Secrets) *Handler {
	return &Handler{inner: inner, set: set}
}

// Enabled reports what the inner handler does.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle masks the message and every attribute, bound ones included, then
// hands the record on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	inner := h.inner
	for _, o := range h.ops {
		if o.group != "" {
			inner = inner.WithGroup(o.group)
			continue
		}
		attrs := make([]slog.Attr, len(o.attrs))
		for i, a := range o.attrs {
			attrs[i] = h.attr(a)
		}
		inner = inner.WithAttrs(attrs)
	}
	out := slog.NewRecord(r.Time, r.Level, h.set.String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return inner.Handle(ctx, out)
}

// WithAttrs binds attrs, masked at each record.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return &Handler{inner: h.inner, set: h.set, ops: append(slices.Clone(h.ops), op{attrs: slices.Clone(attrs)})}
}

// WithGroup opens a group.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &Handler{inner: h.inner, set: h.set, ops: append(slices.Clone(h.ops), op{group: name})}
}

// attr masks one attribute's value: strings, errors, Stringers and any
// other value as it would be printed, recursively through groups.
func (h *Handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.set.String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, x := range g {
			out[i] = h.attr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		var text string
		switch x := v.Any().(type) {
		case error:
			text = x.Error()
		case fmt.Stringer:
			text = x.String()
		default:
			text = fmt.Sprintf("%+v", x)
		}
		if masked := h.set.String(text); masked != text {
			return slog.String(a.Key, masked)
		}
		return slog.Attr{Key: a.Key, Value: v}
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}
