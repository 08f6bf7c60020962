package redact

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/credkit/credkit/credential"
)

// Redactor removes secret values from text: the known values credkit holds
// (in the encodings they travel in), well-known token formats, and — in the
// Handler — the values of sensitive attribute keys.
//
// A Redactor is safe for concurrent use. Its state is an immutable snapshot
// behind an atomic pointer: adding or removing a value builds a new
// snapshot off the logging path and swaps it in, so a logger never waits on
// a change.
type Redactor struct {
	o    options
	snap atomic.Pointer[snapshot]

	mu      sync.Mutex        // serializes rebuilds and guards the sets below
	manual  map[string]string // value -> label
	sources map[int]*tracked
	nextSrc int
}

type tracked struct {
	src     credential.SecretSource
	seq     atomic.Uint64 // reads started
	applied uint64        // the read whose values are in values; r.mu
	values  map[string]string
}

// snapshot is what a scan reads.
type snapshot struct {
	known *matcher
	dets  *detectors
}

// ErrTooShort is returned (wrapped in a *credential.Error of kind
// [credential.ErrInvalid]) by Add for a value shorter than the minimum:
// matching it would redact ordinary words.
var ErrTooShort = errors.New("value too short to redact safely")

// New returns a Redactor. Defaults: every detector of [DefaultDetectors] on,
// the default sensitive keys, values of at least 8 bytes, replacement
// "[REDACTED]" without reasons.
func New(opts ...Option) *Redactor {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	r := &Redactor{o: o, manual: map[string]string{}, sources: map[int]*tracked{}}
	r.snap.Store(&snapshot{dets: compile(o.detectors)})
	return r
}

// Add makes r redact s wherever it appears, raw or encoded; label names it
// in reasons ("[REDACTED:known:openai]" with [WithReasons]). A value
// shorter than the minimum length is refused with an error wrapping
// [ErrTooShort] and [credential.ErrInvalid]: it is never silently ignored.
func (r *Redactor) Add(label string, s credential.Secret) error {
	return r.AddAll(map[string]credential.Secret{label: s})
}

// AddAll adds many values at once, keyed by label, with one rebuild: use it
// to load hundreds of values. It adds none when one is refused.
func (r *Redactor) AddAll(values map[string]credential.Secret) error {
	for label, s := range values {
		if s.IsZero() {
			return &credential.Error{Op: "redact", Name: label, Kind: credential.ErrInvalid, Reason: "empty value"}
		}
		if s.Len() < r.o.minLen {
			return &credential.Error{Op: "redact", Name: label, Kind: credential.ErrInvalid, Reason: "value is shorter than the minimum of " + itoa(r.o.minLen) + " bytes", Err: ErrTooShort}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for label, s := range values {
		r.manual[s.Reveal()] = label
	}
	r.rebuild()
	return nil
}

// Remove stops redacting s as a known value (detectors may still match it).
func (r *Redactor) Remove(s credential.Secret) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.manual[s.Reveal()]; ok {
		delete(r.manual, s.Reveal())
		r.rebuild()
	}
}

// Track keeps every value of src known — for a rotate.Set, the current
// versions and the previous ones during their overlap window — until stop
// is called: values are re-read whenever src reports a change, and values
// that left src are dropped. Values shorter than the minimum are skipped
// (and cannot be tracked; see Add).
func (r *Redactor) Track(src credential.SecretSource) (stop func()) {
	r.mu.Lock()
	id := r.nextSrc
	r.nextSrc++
	t := &tracked{src: src}
	r.sources[id] = t
	r.mu.Unlock()
	// The listener is registered before the first read: a rotation between
	// the two would otherwise go unseen until the next one. Values are read
	// outside r.mu (src is user code); a read applies only when no later
	// read has applied already.
	unreg := src.OnChange(func() { r.refresh(id, t) })
	r.refresh(id, t)
	var once sync.Once
	return func() {
		once.Do(func() {
			unreg()
			r.mu.Lock()
			delete(r.sources, id)
			r.rebuild()
			r.mu.Unlock()
		})
	}
}

// refresh re-reads a source's values and publishes them.
func (r *Redactor) refresh(id int, t *tracked) {
	seq := t.seq.Add(1)
	vals := map[string]string{}
	t.src.Secrets(func(name string, s credential.Secret) bool {
		if s.Len() >= r.o.minLen {
			vals[s.Reveal()] = name
		}
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sources[id] != t || seq < t.applied {
		return
	}
	t.applied = seq
	t.values = vals
	r.rebuild()
}

// rebuild builds and publishes a new snapshot; r.mu is held.
func (r *Redactor) rebuild() {
	var pats []pattern
	addAll := func(v, label string) {
		reason := "known:" + label
		for _, e := range encodings(v) {
			pats = append(pats, pattern{e, reason})
		}
	}
	for v, label := range r.manual {
		addAll(v, label)
	}
	for _, t := range r.sources {
		for v, label := range t.values {
			addAll(v, label)
		}
	}
	old := r.snap.Load()
	r.snap.Store(&snapshot{known: newMatcher(pats), dets: old.dets})
}

// Len returns how many values r knows.
func (r *Redactor) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.manual)
	for _, t := range r.sources {
		n += len(t.values)
	}
	return n
}

// spans returns the merged spans to redact in s, reusing buf.
func (r *Redactor) spans(s string, buf []span) []span {
	snap := r.snap.Load()
	return merge(snap.scan(s, buf[:0], false))
}

// Contains reports whether s holds anything r would redact. It stops at the
// first find and does not allocate when there is none.
func (r *Redactor) Contains(s string) bool {
	return len(r.snap.Load().scan(s, nil, true)) > 0
}

// String returns s with every secret replaced. When there is nothing to
// redact it returns s itself, without allocating.
func (r *Redactor) String(s string) string {
	var buf [4]span
	sp := r.spans(s, buf[:0])
	if len(sp) == 0 {
		return s
	}
	return r.apply(s, sp)
}

func (r *Redactor) apply(s string, sp []span) string {
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, x := range sp {
		b.WriteString(s[last:x.start])
		b.WriteString(r.o.replacement(x.reason))
		last = x.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// Bytes returns b with every secret replaced; b itself when there is
// nothing to redact.
func (r *Redactor) Bytes(b []byte) []byte {
	var buf [4]span
	s := string(b)
	sp := r.spans(s, buf[:0])
	if len(sp) == 0 {
		return b
	}
	return []byte(r.apply(s, sp))
}

// Error returns err with a redacted message: Error() is r.String of the
// original, and errors.Is and errors.As still see the original chain.
// It returns nil for nil.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{err: err, r: r}
}

type redactedError struct {
	err error
	r   *Redactor
}

func (e *redactedError) Error() string { return e.r.String(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
