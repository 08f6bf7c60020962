package redact

import (
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"reflect"
)

// Handler is a slog.Handler that redacts every record before passing it to
// the handler it wraps: the message, every attribute value at every group
// depth (strings, errors, fmt.Stringers, []byte, and structs, maps, slices
// and pointers passed with slog.Any), the results of slog.LogValuers
// (resolved first), and the attributes given to WithAttrs (redacted once,
// when they are attached). The value of an attribute whose key is sensitive
// ("password", "api_key", "authorization"...) is replaced whatever it is.
//
// A record with nothing to redact is passed on as it is. Secrets are never
// revealed to be scanned: a credential.Secret prints [REDACTED] in every
// form the scan reads.
type Handler struct {
	next slog.Handler
	r    *Redactor
}

var _ slog.Handler = (*Handler)(nil)

// NewHandler wraps next. The one line that makes a program's default logger
// safe:
//
//	slog.SetDefault(slog.New(redact.NewHandler(slog.NewJSONHandler(os.Stderr, nil), r)))
//
// Do not wrap slog.Default().Handler() itself and set the result as the
// default: the standard library's default handler writes through the log
// package, which slog.SetDefault points back at the new default, and the
// program deadlocks. NewHandler detects that handler and writes to the log
// package's current output with a text handler instead.
func NewHandler(next slog.Handler, r *Redactor) *Handler {
	if r == nil {
		r = New()
	}
	if isDefaultHandler(next) {
		next = slog.NewTextHandler(log.Writer(), nil)
	}
	return &Handler{next: next, r: r}
}

func isDefaultHandler(h slog.Handler) bool {
	return h != nil && reflect.TypeOf(h).String() == "*slog.defaultHandler"
}

// Enabled reports whether the wrapped handler handles level.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle redacts rec and passes it on.
func (h *Handler) Handle(ctx context.Context, rec slog.Record) error {
	dirty := h.r.Contains(rec.Message)
	if !dirty {
		rec.Attrs(func(a slog.Attr) bool {
			dirty = h.dirtyAttr(a)
			return !dirty
		})
	}
	if !dirty {
		return h.next.Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.clean(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs redacts attrs now and attaches them to the wrapped handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	cleaned := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		cleaned[i] = h.clean(a)
	}
	return &Handler{next: h.next.WithAttrs(cleaned), r: h.r}
}

// WithGroup opens a group on the wrapped handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(h.r.String(name)), r: h.r}
}

// dirtyAttr reports whether a needs redaction, without building anything
// but the text the scan needs.
func (h *Handler) dirtyAttr(a slog.Attr) bool {
	if h.r.o.sensitiveKey(a.Key) && !a.Value.Equal(slog.Value{}) {
		return true
	}
	if h.r.Contains(a.Key) {
		return true
	}
	v := a.Value
	if v.Kind() == slog.KindLogValuer {
		v = v.Resolve()
	}
	switch v.Kind() {
	case slog.KindString:
		return h.r.Contains(v.String())
	case slog.KindGroup:
		for _, g := range v.Group() {
			if h.dirtyAttr(g) {
				return true
			}
		}
		return false
	case slog.KindAny:
		for _, t := range texts(v.Any()) {
			if h.r.Contains(t) {
				return true
			}
		}
	}
	return false
}

// clean returns a redacted.
func (h *Handler) clean(a slog.Attr) slog.Attr {
	key := h.r.String(a.Key)
	if h.r.o.sensitiveKey(a.Key) {
		return slog.String(key, h.r.o.replacement("key"))
	}
	v := a.Value
	if v.Kind() == slog.KindLogValuer {
		v = v.Resolve()
	}
	switch v.Kind() {
	case slog.KindString:
		return slog.String(key, h.r.String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, x := range g {
			out[i] = h.clean(x)
		}
		return slog.Group(key, out...)
	case slog.KindAny:
		return slog.Attr{Key: key, Value: h.cleanAny(v.Any())}
	}
	return slog.Attr{Key: key, Value: v}
}

// cleanAny returns a value safe to log for x: x itself when no form of it
// holds a secret, otherwise a redacted string of its JSON encoding (or of
// its fmt form when it has none).
func (h *Handler) cleanAny(x any) slog.Value {
	dirty := false
	for _, t := range texts(x) {
		if h.r.Contains(t) {
			dirty = true
			break
		}
	}
	if !dirty {
		return slog.AnyValue(x)
	}
	switch x := x.(type) {
	case error:
		return slog.StringValue(h.r.String(x.Error()))
	case []byte:
		return slog.StringValue(h.r.String(string(x)))
	case fmt.Stringer:
		return slog.StringValue(h.r.String(x.String()))
	}
	if b, err := json.Marshal(x); err == nil {
		return slog.StringValue(h.r.String(string(b)))
	}
	return slog.StringValue(h.r.String(fmt.Sprintf("%+v", x)))
}

// texts returns the forms a handler may print x in: the text handler uses
// MarshalText or fmt's %+v (which calls Error, String or Format); the JSON
// handler uses MarshalJSON, json.Marshal's view of the fields, or Error.
// All of them are scanned. A []byte is scanned raw: its JSON form is base64,
// one of the encodings known values are matched in.
func texts(x any) []string {
	if x == nil {
		return nil
	}
	if b, ok := x.([]byte); ok {
		return []string{string(b)}
	}
	out := []string{fmt.Sprintf("%+v", x)}
	if tm, ok := x.(encoding.TextMarshaler); ok {
		if b, err := tm.MarshalText(); err == nil {
			out = append(out, string(b))
		}
	}
	if _, isErr := x.(error); !isErr {
		if b, err := json.Marshal(x); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}
