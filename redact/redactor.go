package redact

import (
	"errors"
	"math"
	"math/bits"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/credkit/credkit/credential"
)

// Redactor removes secret values from text: the known values credkit holds
// (in the encodings they travel in, and fragments of them), well-known
// token formats, and — in the Handler — the values of sensitive attribute
// keys.
//
// A Redactor is safe for concurrent use. Its state is an immutable snapshot
// behind an atomic pointer: adding or removing a value builds a new
// snapshot off the logging path and swaps it in, so a logger never waits on
// a change.
type Redactor struct {
	o    options
	snap atomic.Pointer[snapshot]
	// fields caches, per struct type, which fields have sensitive names.
	fields sync.Map // reflect.Type -> []fieldInfo

	mu      sync.Mutex // serializes changes and guards the fields below
	vals    map[string]*knownValue
	nbase   int      // the number of values indexed in snap.base
	delta   []string // the values indexed in snap.delta
	dead    map[string]bool
	sources map[int]*tracked
	nextSrc int
}

// knownValue is one value and the number of its holders (Add, and each
// tracked source that holds it).
type knownValue struct {
	label  string
	refs   int
	manual bool // added with Add (one of refs)
}

type tracked struct {
	src     credential.SecretSource
	seq     atomic.Uint64     // reads started
	applied uint64            // the read whose values are in values; r.mu
	values  map[string]uint64 // value -> the read that last saw it
}

// snapshot is what a scan reads. Known values live in two layers: a large
// base, rebuilt rarely, and a small delta holding what was added since,
// rebuilt on each change; a value removed from the base is listed in dead
// until the next rebuild. So adding or removing one value costs work
// proportional to the delta, and the base is rebuilt when the delta grows
// past about 2√n values: amortized, O(√n) a change.
type snapshot struct {
	base, delta *matcher
	dead        map[string]bool
	dets        *detectors
	// tabs classify a long text: the detectors' anchor bytes, and the
	// bytes a run may hold (base64, hex and every known value's bytes).
	tabs *classTables
	run  byteSet // the run set tabs were made for
	// runB64 is set when run holds no ASCII byte but base64's.
	runB64 bool
	// vbytes is every byte value the known values hold.
	vbytes byteSet
	// keys caches the verdicts on attribute keys (constants, mostly: a
	// record's keys are the same record after record), direct-mapped.
	keys [keySlots]atomic.Pointer[keyVerdict]
	// vals caches the short string values found clean that came back (a
	// model name, a user, a message), direct-mapped; seen holds a
	// fingerprint of the last value a slot missed on, so that a value is
	// kept only when it comes twice in a row there and values seen once
	// (request and trace IDs) never churn the cache.
	vals [valSlots]atomic.Pointer[string]
	seen [valSlots]atomic.Uint64
}

const (
	keySlots = 256
	valSlots = 256
	// valMax is the longest value the cache keeps: values longer than
	// this (prompts, completions) seldom repeat, and cost a scan.
	valMax = 64
)

// contains reports whether s holds a secret, from the cache of clean
// values when s is one of them. A value is cached only once a scan of
// this snapshot found it clean, and a hit compares it whole: the cache
// never changes a verdict, it only skips the scan.
func (sn *snapshot) contains(s string) bool {
	if len(s) > valMax {
		return len(sn.scan(s, nil, true)) > 0
	}
	slot := keySlot(s)
	if v := sn.vals[slot].Load(); v != nil && *v == s {
		return false
	}
	if len(sn.scan(s, nil, true)) > 0 {
		return true
	}
	if fp := fingerprint(s); sn.seen[slot].Load() != fp {
		sn.seen[slot].Store(fp)
	} else {
		c := strings.Clone(s) // a copy: s may be a view of a buffer
		sn.vals[slot].Store(&c)
	}
	return false
}

// fingerprint mixes the length, the first and the last eight bytes of s
// (of up to valMax bytes): values that share a slot but differ in their
// ends (IDs differ in their last bytes) get different fingerprints.
// Two values with one fingerprint only make the second cached a sighting
// early.
func fingerprint(s string) uint64 {
	n := len(s)
	var a, b uint64
	if n >= 8 {
		a, b = word(s, 0), word(s, n-8)
	} else {
		for i := 0; i < n; i++ {
			a = a<<8 | uint64(s[i])
		}
	}
	h := (a ^ uint64(n)*0x9E3779B97F4A7C15) * 0xBF58476D1CE4E5B9
	h ^= bits.RotateLeft64(b, 31) * 0x94D049BB133111EB
	return h ^ h>>29
}

// keyVerdict is what the Handler needs to know of an attribute key: that
// its name is sensitive, or that it holds a secret (never cached: a key
// that holds a secret is scanned every time, and kept nowhere).
type keyVerdict struct {
	key       string
	sensitive bool
}

// keySlot picks a key's slot from its length and three of its bytes.
func keySlot(k string) int {
	n := len(k)
	if n == 0 {
		return 0
	}
	h := uint(n)*0x9E37 ^ uint(k[0])*0x85EB ^ uint(k[n-1])*0xC2B2 ^ uint(k[n/2])*0x27D4
	return int(h>>4^h) & (keySlots - 1)
}

// keyOf returns whether key is a sensitive name and whether it holds a
// secret, from the cache when it was seen before. An attribute key
// (replace) takes its slot from another; a map key only fills an empty
// slot, so that a map of many keys does not churn the cache.
func (r *Redactor) keyOf(sn *snapshot, key string, replace bool) (sensitive, dirty bool) {
	slot := &sn.keys[keySlot(key)]
	v := slot.Load()
	if v != nil && v.key == key {
		return v.sensitive, false
	}
	sensitive = r.o.sensitiveKey(key)
	if len(sn.scan(key, nil, true)) > 0 {
		return sensitive, true
	}
	if len(key) <= 64 && (replace || v == nil) {
		slot.CompareAndSwap(v, &keyVerdict{key: key, sensitive: sensitive})
	}
	return sensitive, false
}

// fieldInfo is what the walk needs of a struct field.
type fieldInfo struct {
	exported  bool
	sensitive bool // by its name or its JSON name
}

// fieldsOf returns the fields of the struct type t, made once per type.
func (r *Redactor) fieldsOf(t reflect.Type) []fieldInfo {
	if f, ok := r.fields.Load(t); ok {
		return f.([]fieldInfo)
	}
	out := make([]fieldInfo, t.NumField())
	for i := range out {
		f := t.Field(i)
		fs := r.o.sensitiveKey(f.Name)
		if tag, ok := f.Tag.Lookup("json"); ok && !fs {
			if n, _, _ := strings.Cut(tag, ","); n != "" && n != "-" {
				fs = r.o.sensitiveKey(n)
			}
		}
		out[i] = fieldInfo{exported: f.IsExported(), sensitive: fs}
	}
	r.fields.Store(t, out)
	return out
}

// newSnapshot returns the snapshot of the layers and detectors given.
func newSnapshot(base, delta *matcher, dead map[string]bool, dets *detectors, old *snapshot) *snapshot {
	sn := &snapshot{base: base, delta: delta, dead: dead, dets: dets}
	var run byteSet
	run.addClass(b64Run)
	for _, m := range []*matcher{base, delta} {
		if m != nil {
			run.union(&m.bytes)
			sn.vbytes.union(&m.bytes)
		}
	}
	var b64 byteSet
	b64.addClass(b64Run)
	sn.runB64 = run[0] == b64[0] && run[1] == b64[1]
	// The tables change only when the run set does (a value with a byte
	// no earlier value had).
	if old != nil && old.run == run {
		sn.tabs, sn.run = old.tabs, run
		return sn
	}
	var buckets []bucketSets
	var kill killPair
	if dets != nil {
		buckets, kill = dets.buckets, dets.kill
	}
	sn.tabs, sn.run = newClassTables(buckets, &run, kill), run
	return sn
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
	r := &Redactor{o: o, vals: map[string]*knownValue{}, sources: map[int]*tracked{}}
	r.snap.Store(newSnapshot(nil, nil, nil, compile(o.detectors), nil))
	return r
}

// Add makes r redact s wherever it appears, raw, encoded or in a fragment
// of 16 bytes or more; label names it in reasons
// ("[REDACTED:known:openai]" with [WithReasons]). A value shorter than the
// minimum length is refused with an error wrapping [ErrTooShort] and
// [credential.ErrInvalid]: it is never silently ignored.
func (r *Redactor) Add(label string, s credential.Secret) error {
	return r.AddAll(map[string]credential.Secret{label: s})
}

// AddAll adds many values at once, keyed by label. It adds none when one is
// refused.
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
	var added []string
	for label, s := range values {
		v := s.Reveal()
		if k := r.vals[v]; k != nil && k.manual {
			continue
		}
		if r.hold(v, label) {
			added = append(added, v)
		}
		r.vals[v].manual = true
	}
	r.publish(added, nil)
	return nil
}

// Remove stops redacting s as a known value (detectors may still match it).
func (r *Redactor) Remove(s credential.Secret) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := s.Reveal()
	if k := r.vals[v]; k == nil || !k.manual {
		return
	}
	r.vals[v].manual = false
	if r.release(v) {
		r.publish(nil, []string{v})
	}
}

// hold counts one more holder of v; it reports whether v is new. r.mu is
// held.
func (r *Redactor) hold(v, label string) bool {
	if k := r.vals[v]; k != nil {
		k.refs++
		return false
	}
	r.vals[v] = &knownValue{label: label, refs: 1}
	return true
}

// release counts one holder less; it reports whether v is gone. r.mu is
// held.
func (r *Redactor) release(v string) bool {
	k := r.vals[v]
	if k == nil {
		return false
	}
	if k.refs--; k.refs > 0 {
		return false
	}
	delete(r.vals, v)
	return true
}

// publish indexes the values added and drops the values removed (both
// already counted in r.vals), and stores the new snapshot. r.mu is held.
func (r *Redactor) publish(added, removed []string) {
	if len(added) == 0 && len(removed) == 0 {
		return
	}
	old := r.snap.Load()
	for _, v := range removed {
		if r.dead == nil {
			r.dead = map[string]bool{}
		}
		r.dead[v] = true
	}
	for _, v := range added {
		if r.dead[v] {
			delete(r.dead, v) // back before the rebuild: still in its layer
			continue
		}
		r.delta = append(r.delta, v)
	}
	// Drop the dead from the delta now; from the base at the next rebuild.
	if len(removed) > 0 {
		kept := r.delta[:0]
		for _, v := range r.delta {
			if r.dead[v] {
				delete(r.dead, v)
				continue
			}
			kept = append(kept, v)
		}
		r.delta = kept
	}
	// The delta is kept to about 2√n values: rebuilding it costs O(√n) a
	// change, and merging it into the base, O(n) every √n changes.
	limit := max(32, 2*int(math.Sqrt(float64(r.nbase))))
	if len(r.delta) > limit || len(r.dead) > limit {
		all := make([]string, 0, len(r.vals))
		for v := range r.vals {
			all = append(all, v)
		}
		r.nbase = len(all)
		r.delta, r.dead = nil, nil
		r.snap.Store(newSnapshot(r.layer(all), nil, nil, old.dets, old))
		return
	}
	var dead map[string]bool
	if len(r.dead) > 0 {
		dead = make(map[string]bool, len(r.dead))
		for v := range r.dead {
			dead[v] = true
		}
	}
	r.snap.Store(newSnapshot(old.base, r.layer(r.delta), dead, old.dets, old))
}

// layer builds the matcher of the values vs. r.mu is held.
func (r *Redactor) layer(vs []string) *matcher {
	if len(vs) == 0 {
		return nil
	}
	chunks := make([]chunk, 0, len(vs))
	for _, v := range vs {
		chunks = chunksOf(v, r.vals[v].label, chunks)
	}
	return newMatcher(chunks)
}

// Track keeps every value of src known — for a rotate.Set, the current
// versions and the previous ones during their overlap window — until stop
// is called: values are re-read whenever src reports a change, and values
// that left src are dropped. The work of a change is proportional to the
// values that changed. Values shorter than the minimum are skipped (and
// cannot be tracked; see Add).
func (r *Redactor) Track(src credential.SecretSource) (stop func()) {
	r.mu.Lock()
	id := r.nextSrc
	r.nextSrc++
	t := &tracked{src: src, values: map[string]uint64{}}
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
			defer r.mu.Unlock()
			if r.sources[id] != t {
				return
			}
			delete(r.sources, id)
			var removed []string
			for v := range t.values {
				if r.release(v) {
					removed = append(removed, v)
				}
			}
			r.publish(nil, removed)
		})
	}
}

// refresh re-reads a source's values and publishes what changed: a
// rotation of one credential indexes one value, whatever the source holds.
func (r *Redactor) refresh(id int, t *tracked) {
	seq := t.seq.Add(1)
	type pair struct{ v, name string }
	var read []pair
	t.src.Secrets(func(name string, s credential.Secret) bool {
		if s.Len() >= r.o.minLen {
			read = append(read, pair{s.Reveal(), name})
		}
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sources[id] != t || seq < t.applied {
		return
	}
	t.applied = seq
	var added, removed []string
	for _, p := range read {
		if g, ok := t.values[p.v]; ok {
			if g != seq {
				t.values[p.v] = seq
			}
			continue
		}
		t.values[p.v] = seq
		if r.hold(p.v, p.name) {
			added = append(added, p.v)
		}
	}
	for v, g := range t.values {
		if g != seq {
			delete(t.values, v)
			if r.release(v) {
				removed = append(removed, v)
			}
		}
	}
	r.publish(added, removed)
}

// Len returns how many values r knows.
func (r *Redactor) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.vals)
}

// spans returns the merged spans to redact in s, appended to buf.
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
	// No buffer of spans is passed: one would escape (the detectors are
	// called through function values), and a clean text allocates nothing.
	sp := r.spans(s, nil)
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
	s := unsafeString(b) // read only; apply copies
	sp := r.spans(s, nil)
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
