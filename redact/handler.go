package redact

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/credkit/credkit/credential"
)

// Handler is a slog.Handler that redacts every record before passing it to
// the handler it wraps: the message, every attribute value at every group
// depth (strings, errors, fmt.Stringers, []byte, and structs, maps, slices
// and pointers passed with slog.Any), the results of slog.LogValuers
// (resolved first), and the attributes given to WithAttrs. The value of an
// attribute, map key or struct field whose name is sensitive ("password",
// "apiKey", "Authorization"... see [DefaultSensitiveKeys]) is replaced
// whatever it is, at every depth.
//
// A record with nothing to redact is passed on as it is. A value that held
// a secret keeps its shape: a map or struct is passed on as the JSON object
// the JSON handler would print, with only the secret replaced.
//
// Attributes attached with WithAttrs are checked again whenever the
// Redactor's set of known values changes, so a value added after a logger
// was built is not printed by it.
//
// A Handler never panics because of what it logs: a MarshalJSON,
// MarshalText, String, Error or LogValue that panics is recovered and
// printed as "!PANIC: ..." (as slog does), nil pointers are left to the
// wrapped handler, cycles and values deeper than 64 levels, with more than
// 100,000 elements or more than 4 MiB of text are replaced by an "!ERROR"
// string rather than walked. Secrets are never revealed to be scanned: a
// credential.Secret prints [REDACTED] in every form the scan reads.
type Handler struct {
	base  slog.Handler // what NewHandler wrapped, nothing attached
	r     *Redactor
	ops   []handlerOp // WithAttrs and WithGroup, in order
	built atomic.Pointer[builtHandler]
}

// handlerOp is one WithGroup (attrs nil) or WithAttrs call.
type handlerOp struct {
	group string
	attrs []slog.Attr
}

// builtHandler is base with the ops applied, cleaned against one snapshot
// of the known values.
type builtHandler struct {
	snap *snapshot
	h    slog.Handler
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
	return &Handler{base: next, r: r}
}

func isDefaultHandler(h slog.Handler) bool {
	return h != nil && reflect.TypeOf(h).String() == "*slog.defaultHandler"
}

// Enabled reports whether the wrapped handler handles level.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.base.Enabled(ctx, l) }

// next returns the wrapped handler with the attached attributes, cleaned
// against the current known values.
func (h *Handler) next() slog.Handler {
	if len(h.ops) == 0 {
		return h.base
	}
	snap := h.r.snap.Load()
	if b := h.built.Load(); b != nil && b.snap == snap {
		return b.h
	}
	n := h.base
	for _, op := range h.ops {
		if op.attrs == nil {
			n = n.WithGroup(h.r.String(op.group))
			continue
		}
		cleaned := make([]slog.Attr, len(op.attrs))
		for i, a := range op.attrs {
			cleaned[i] = h.cleanAttr(a)
		}
		n = n.WithAttrs(cleaned)
	}
	h.built.Store(&builtHandler{snap: snap, h: n})
	return n
}

// Handle redacts rec and passes it on.
func (h *Handler) Handle(ctx context.Context, rec slog.Record) (err error) {
	next := h.next()
	var st recordCheck
	if h.check(&rec, &st) {
		return next.Handle(ctx, rec)
	}
	return next.Handle(ctx, h.rebuild(&rec, &st))
}

// recordCheck is what check learnt of a record (against one snapshot of
// the known values for the whole record): whether its message holds a
// secret, how many attributes were found clean before the first dirty
// one, and the text of a panic in the Handler's own code.
type recordCheck struct {
	msgDirty bool
	clean    int
	perr     string
}

// check reports whether rec needs nothing redacted. A panic in the
// Handler's own code is recovered into st.perr (and rec is not clean).
func (h *Handler) check(rec *slog.Record, st *recordCheck) (clean bool) {
	defer func() {
		if p := recover(); p != nil {
			st.perr, clean = h.panicText(p), false
		}
	}()
	sn := h.r.snap.Load()
	if sn.contains(rec.Message) {
		st.msgDirty = true
		return false
	}
	// st.clean counts the attributes found clean before the first dirty
	// one: those holding a string or a scalar (immutable: what was scanned
	// is what is printed) go on as they are, without a second scan.
	clean = true
	rec.Attrs(func(a slog.Attr) bool {
		if h.dirtyAttr(sn, a) {
			clean = false
			return false
		}
		st.clean++
		return true
	})
	return clean
}

// rebuild returns rec redacted, after check found it is not clean.
func (h *Handler) rebuild(rec *slog.Record, st *recordCheck) (out slog.Record) {
	defer func() {
		if p := recover(); p != nil && st.perr == "" {
			st.perr = h.panicText(p)
			out = h.panicked(rec, st.perr)
		}
	}()
	if st.perr != "" {
		return h.panicked(rec, st.perr)
	}
	msg := rec.Message
	if st.msgDirty {
		msg = h.r.String(msg)
	}
	out = slog.NewRecord(rec.Time, rec.Level, msg, rec.PC)
	i := 0
	rec.Attrs(func(a slog.Attr) bool {
		if k := a.Value.Kind(); i < st.clean && k != slog.KindAny && k != slog.KindLogValuer && k != slog.KindGroup {
			out.AddAttrs(a)
		} else {
			out.AddAttrs(h.cleanAttr(a))
		}
		i++
		return true
	})
	return out
}

// panicked is the record printed when the Handler's own code panicked on
// rec: its message, redacted, and the panic.
func (h *Handler) panicked(rec *slog.Record, perr string) slog.Record {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	out.AddAttrs(slog.String("!PANIC", perr))
	return out
}

// WithAttrs attaches attrs; they are redacted against the known values of
// the moment, and again whenever those change.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return h.with(handlerOp{attrs: append([]slog.Attr(nil), attrs...)})
}

// WithGroup opens a group on the wrapped handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(handlerOp{group: name})
}

func (h *Handler) with(op handlerOp) *Handler {
	ops := make([]handlerOp, len(h.ops)+1)
	copy(ops, h.ops)
	ops[len(h.ops)] = op
	n := &Handler{base: h.base, r: h.r, ops: ops}
	n.next() // build now, so that a bad attribute shows at once
	return n
}

// dirtyAttr reports whether a needs redaction, without building anything
// but the text the scan needs.
func (h *Handler) dirtyAttr(sn *snapshot, a slog.Attr) bool {
	v := a.Value
	sensitive, dirty := h.r.keyOf(sn, a.Key, true)
	if dirty || sensitive && !v.Equal(slog.Value{}) {
		return true
	}
	if v.Kind() == slog.KindLogValuer {
		v = v.Resolve()
	}
	switch v.Kind() {
	case slog.KindString:
		return sn.contains(v.String())
	case slog.KindGroup:
		for _, g := range v.Group() {
			if h.dirtyAttr(sn, g) {
				return true
			}
		}
		return false
	case slog.KindAny:
		w := walker{h: h, sn: sn}
		w.walk(v.Any())
		return w.dirty()
	}
	return false
}

// cleanAttr returns a redacted.
func (h *Handler) cleanAttr(a slog.Attr) slog.Attr {
	key := h.r.String(a.Key)
	v := a.Value
	if h.r.o.sensitiveKey(a.Key) && !v.Equal(slog.Value{}) {
		return slog.String(key, h.r.o.replacement("key"))
	}
	if v.Kind() == slog.KindLogValuer {
		v = v.Resolve()
	}
	switch v.Kind() {
	case slog.KindString:
		return slog.String(key, h.r.String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, x := range g {
			out[i] = h.cleanAttr(x)
		}
		return slog.Attr{Key: key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		return slog.Attr{Key: key, Value: h.cleanAny(v.Any())}
	}
	return slog.Attr{Key: key, Value: v}
}

// Bounds on what one value may cost to check.
const (
	maxDepth = 64
	maxNodes = 100_000
	maxText  = 4 << 20
)

// cleanAny returns a value safe to log for x: x itself when no form of it
// holds a secret; otherwise, for an error, its redacted message; for
// anything else the JSON the JSON handler would print, with only the
// secrets replaced, passed on as a json.RawMessage so that it stays an
// object.
func (h *Handler) cleanAny(x any) slog.Value {
	w := walker{h: h, sn: h.r.snap.Load()}
	w.walk(x)
	if !w.dirty() {
		return slog.AnyValue(x)
	}
	if w.tooBig {
		return slog.StringValue("!ERROR: value too large or too deep to check for secrets")
	}
	if w.cycle {
		return slog.StringValue("!ERROR: value contains a cycle")
	}
	_, jm := x.(json.Marshaler)
	if err, ok := x.(error); ok && !jm {
		msg, p := safeCall(func() string { return err.Error() })
		if p != nil {
			return slog.StringValue("!PANIC: " + h.panicText(p))
		}
		return slog.StringValue(h.r.String(h.hideAll(msg, w.hidden)))
	}
	if b, ok := x.([]byte); ok {
		return slog.StringValue(h.r.String(h.hideAll(string(b), w.hidden)))
	}
	var b []byte
	var jerr error
	_, p := safeCall(func() string { b, jerr = json.Marshal(x); return "" })
	switch {
	case p != nil:
		return slog.StringValue("!PANIC: " + h.panicText(p))
	case jerr != nil:
		return slog.StringValue("!ERROR: " + h.r.String(h.hideAll(jerr.Error(), w.hidden)))
	}
	clean, err := h.rewriteJSON(b, w.hidden)
	if err != nil {
		return slog.StringValue(h.r.o.replacement("key"))
	}
	return slog.AnyValue(json.RawMessage(clean))
}

// hideAll replaces the values found under sensitive names in s.
func (h *Handler) hideAll(s string, hidden []string) string {
	for _, v := range hidden {
		if len(v) >= 3 {
			s = strings.ReplaceAll(s, v, h.r.o.replacement("key"))
		}
	}
	return s
}

// panicText is what a recovered panic prints: its value, redacted.
func (h *Handler) panicText(p any) string {
	var s string
	switch p := p.(type) {
	case string:
		s = p
	case error:
		var q any
		s, q = safeCall(func() string { return p.Error() })
		if q != nil {
			s = fmt.Sprintf("%T", p)
		}
	default:
		s = fmt.Sprintf("%T", p)
	}
	return h.r.String(s)
}

// jsonString encodes s as slog's JSON handler does for a value it
// marshals: without HTML escaping.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(b.Bytes(), "\n")
}

// safeCall runs f, recovering a panic.
func safeCall(f func() string) (s string, p any) {
	defer func() {
		if q := recover(); q != nil {
			p = q
			if p == nil {
				p = "nil"
			}
		}
	}()
	return f(), nil
}

// rewriteJSON copies the JSON b, redacting every string and key, replacing
// the value of every sensitive key and every string that holds a hidden
// value.
func (h *Handler) rewriteJSON(b []byte, hidden []string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out bytes.Buffer
	out.Grow(len(b))
	type frame struct {
		obj   bool
		n     int // tokens written in this frame
		isKey bool
	}
	var stack []frame
	repl := jsonString(h.r.o.replacement("key"))
	sep := func() {
		if len(stack) == 0 {
			return
		}
		f := &stack[len(stack)-1]
		if f.obj {
			if f.isKey {
				if f.n > 0 {
					out.WriteByte(',')
				}
			} else {
				out.WriteByte(':')
			}
		} else if f.n > 0 {
			out.WriteByte(',')
		}
	}
	after := func() {
		if len(stack) == 0 {
			return
		}
		f := &stack[len(stack)-1]
		if f.obj {
			if !f.isKey {
				f.n++
			}
			f.isKey = !f.isKey
		} else {
			f.n++
		}
	}
	skipValue := func() error {
		depth := 0
		for {
			t, err := dec.Token()
			if err != nil {
				return err
			}
			if d, ok := t.(json.Delim); ok {
				if d == '{' || d == '[' {
					depth++
				} else {
					depth--
				}
			}
			if depth == 0 {
				return nil
			}
		}
	}
	for {
		t, err := dec.Token()
		if err != nil {
			if err == io.EOF {
				return out.Bytes(), nil
			}
			return nil, err
		}
		if d, ok := t.(json.Delim); ok {
			switch d {
			case '{', '[':
				sep()
				out.WriteByte(byte(d))
				stack = append(stack, frame{obj: d == '{', isKey: d == '{'})
			default:
				out.WriteByte(byte(d))
				stack = stack[:len(stack)-1]
				after()
			}
			continue
		}
		sep()
		if s, ok := t.(string); ok {
			key := len(stack) > 0 && stack[len(stack)-1].obj && stack[len(stack)-1].isKey
			if key && h.r.o.sensitiveKey(s) {
				out.Write(jsonString(h.r.String(s)))
				after()
				sep()
				out.Write(repl)
				if err := skipValue(); err != nil {
					return nil, err
				}
				after()
				continue
			}
			c := h.r.String(s)
			if !key {
				c = h.hideAll(c, hidden)
			}
			out.Write(jsonString(c))
		} else {
			e, _ := json.Marshal(t)
			out.Write(e)
		}
		after()
	}
}

// walker checks every form a handler may print a value in: the JSON
// handler uses MarshalJSON, json.Marshal's view of the fields, or Error;
// the text handler uses MarshalText or fmt's %+v (which calls Error,
// String or Format, or prints every field, exported or not). It walks the
// value once with reflect, calling those methods under recover, and scans
// every string it meets; it never calls fmt on the whole value (fmt has no
// cycle check). A []byte is scanned raw: its JSON form is base64, one of
// the encodings known values are matched in.
type walker struct {
	h      *Handler
	sn     *snapshot // the known values the walk checks against
	found  bool
	panic  bool
	cycle  bool
	tooBig bool
	nodes  int
	text   int
	path   map[uintptr]bool
	hidden []string // strings under sensitive names
	// jsonOnly: the walk is below a value that fmt prints through one of
	// its methods (Error, String, Format) but encoding/json prints field by
	// field, so only what encoding/json reads is read: exported fields,
	// and MarshalJSON/MarshalText. An error's unexported fields are never
	// read: nothing prints them, and they may hold state other goroutines
	// write (a request's context and its map of children), which a
	// reflective read would race with.
	jsonOnly bool
}

func (w *walker) dirty() bool { return w.found || w.panic || w.cycle || w.tooBig }

var (
	errorType     = reflect.TypeFor[error]()
	stringerType  = reflect.TypeFor[fmt.Stringer]()
	formatterType = reflect.TypeFor[fmt.Formatter]()
	jsonMType     = reflect.TypeFor[json.Marshaler]()
	textMType     = reflect.TypeFor[encoding.TextMarshaler]()
	secretType    = reflect.TypeFor[credential.Secret]()
)

// The printing methods of a type, cached: Implements costs more than the
// walk of a small struct.
const (
	mJSON = 1 << iota
	mText
	mError
	mString
	mFormat
)

var methodCache sync.Map // reflect.Type -> uint8

func methodsOf(t reflect.Type) uint8 {
	if m, ok := methodCache.Load(t); ok {
		return m.(uint8)
	}
	var m uint8
	for bit, it := range map[uint8]reflect.Type{mJSON: jsonMType, mText: textMType, mError: errorType, mString: stringerType, mFormat: formatterType} {
		if t.Implements(it) {
			m |= bit
		}
	}
	methodCache.Store(t, m)
	return m
}

func (w *walker) walk(x any) {
	if x == nil {
		return
	}
	if w.fast(x) {
		return
	}
	w.value(reflect.ValueOf(x), 0, false)
}

// fast walks the types a log attribute most often holds without reflect
// (a map[string]any walked by reflect allocates an iterator and a Value a
// key); it reports false for any other type. A composite element is
// walked by value, with the map on the path so that a cycle through it is
// seen.
func (w *walker) fast(x any) bool {
	switch x := x.(type) {
	case string:
		w.nodes++
		w.scan(x, false)
	case bool, int, int64, int32, uint, uint64, uint32, float64, float32:
		w.nodes++
	case map[string]any:
		for k, v := range x {
			if w.tooBig || w.cycle || w.nodes > maxNodes {
				w.tooBig = w.tooBig || w.nodes > maxNodes
				return true
			}
			w.nodes++
			ks := w.key(k)
			switch v := v.(type) {
			case nil:
			case string:
				w.nodes++
				w.scan(v, ks)
			case bool:
				w.nodes++
			case int, int64, float64:
				w.nodes++
				if ks {
					w.found = true
				}
			default:
				if w.path == nil {
					w.path = map[uintptr]bool{}
				}
				w.path[reflect.ValueOf(x).Pointer()] = true
				w.value(reflect.ValueOf(v), 1, ks)
			}
		}
	case map[string]string:
		for k, v := range x {
			w.nodes += 2
			w.scan(k, false)
			w.scan(v, w.h.r.o.sensitiveKey(k))
		}
	case []string:
		for _, v := range x {
			w.nodes++
			w.scan(v, false)
		}
	default:
		return false
	}
	if w.nodes > maxNodes {
		w.tooBig = true
	}
	return true
}

// onlyJSON enters the part of the walk that only encoding/json prints, and
// returns the function that leaves it.
func (w *walker) onlyJSON() func() {
	if w.jsonOnly {
		return func() {}
	}
	w.jsonOnly = true
	return func() { w.jsonOnly = false }
}

// key scans a map key and reports whether its name is sensitive (both
// from the key cache when the key was seen before).
func (w *walker) key(k string) bool {
	w.text += len(k)
	if w.text > maxText {
		w.tooBig = true
		return false
	}
	sensitive, dirty := w.h.r.keyOf(w.sn, k, false)
	if dirty {
		w.found = true
	}
	return sensitive
}

func (w *walker) scan(s string, sensitive bool) {
	w.text += len(s)
	if w.text > maxText {
		w.tooBig = true
		return
	}
	if sensitive && s != "" {
		w.found = true
		if len(w.hidden) < 64 {
			w.hidden = append(w.hidden, s)
		}
		return
	}
	if !w.found && w.sn.contains(s) {
		w.found = true
	}
}

// call runs one of v's printing methods under recover and scans its text.
func (w *walker) call(f func() string, sensitive bool) {
	s, p := safeCall(f)
	if p != nil {
		w.panic = true
		return
	}
	w.scan(s, sensitive)
}

func (w *walker) value(v reflect.Value, depth int, sensitive bool) {
	if w.tooBig || w.cycle {
		return
	}
	w.nodes++
	if depth > maxDepth || w.nodes > maxNodes {
		w.tooBig = true
		return
	}
	if !v.IsValid() {
		return
	}
	t := v.Type()
	if t == secretType {
		return
	}
	k := v.Kind()
	if (k == reflect.Pointer || k == reflect.Interface || k == reflect.Map || k == reflect.Slice) && v.IsNil() {
		return
	}
	// The printing methods, where fmt and encoding/json would call them.
	methods := false
	if v.CanInterface() && t.NumMethod() > 0 {
		x := v.Interface()
		ms := methodsOf(t)
		js, tx := ms&mJSON != 0, ms&mText != 0
		er, st, fm := ms&mError != 0, ms&mString != 0, ms&mFormat != 0
		if js {
			w.call(func() string { b, _ := x.(json.Marshaler).MarshalJSON(); return string(b) }, sensitive)
		}
		if tx {
			w.call(func() string { b, _ := x.(encoding.TextMarshaler).MarshalText(); return string(b) }, sensitive)
		}
		switch {
		case fm:
			w.call(func() string { return fmt.Sprintf("%+v", x) }, sensitive)
		case er:
			w.call(func() string { return x.(error).Error() }, sensitive)
		case st:
			w.call(func() string { return x.(fmt.Stringer).String() }, sensitive)
		}
		// Fields are printed only where a method does not stand in for them
		// in both forms: slog's JSONHandler prints an attribute's error
		// with Error and encoding/json uses MarshalJSON or MarshalText;
		// fmt (TextHandler) uses MarshalText, Format, Error or String.
		jsonSide := js || tx || er && depth == 0
		textSide := tx || fm || er || st
		if w.jsonOnly {
			methods = js || tx
		} else {
			methods = jsonSide && textSide
			if textSide && !methods {
				defer w.onlyJSON()()
			}
		}
	}
	if methods {
		return
	}
	switch k {
	case reflect.String:
		w.scan(v.String(), sensitive)
	case reflect.Pointer, reflect.Map:
		p := v.Pointer()
		if w.path == nil {
			w.path = map[uintptr]bool{}
		}
		if w.path[p] {
			w.cycle = true
			return
		}
		w.path[p] = true
		defer delete(w.path, p)
		if k == reflect.Pointer {
			if depth > 0 {
				// fmt prints a pointer below the top as its address;
				// only encoding/json follows it.
				defer w.onlyJSON()()
			}
			w.value(v.Elem(), depth+1, sensitive)
			return
		}
		it := v.MapRange()
		for it.Next() {
			key := it.Key()
			ks := false
			if key.Kind() == reflect.String {
				ks = w.key(key.String())
			} else {
				w.value(key, depth+1, false)
			}
			w.value(it.Value(), depth+1, sensitive || ks)
		}
	case reflect.Interface:
		w.value(v.Elem(), depth+1, sensitive)
	case reflect.Struct:
		fields := w.h.r.fieldsOf(t)
		for i, f := range fields {
			if w.jsonOnly && !f.exported {
				continue
			}
			w.value(v.Field(i), depth+1, sensitive || f.sensitive)
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			if k == reflect.Slice {
				w.scan(string(v.Bytes()), sensitive)
			}
			return
		}
		if k == reflect.Slice {
			p := v.Pointer()
			if w.path == nil {
				w.path = map[uintptr]bool{}
			}
			if w.path[p] && v.Len() > 0 {
				w.cycle = true
				return
			}
			w.path[p] = true
			defer delete(w.path, p)
		}
		for i := 0; i < v.Len(); i++ {
			w.value(v.Index(i), depth+1, sensitive)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		if sensitive && !v.IsZero() {
			w.found = true
		}
	}
}
