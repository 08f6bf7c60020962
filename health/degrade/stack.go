package degrade

import (
	"context"
	"reflect"
	"sync/atomic"
	"time"
)

// callKey is the context key of the running logical call.
type callKey struct{}

// callState travels in the context of every attempt a policy makes, so that
// a layer below — a RoundTripper in the SDK's *http.Client, a policy in a
// wrapper the call goes through — knows it runs inside a policy's attempt
// and makes one attempt itself instead of its own loop (attempts never
// multiply), and reports what it saw to the outer policy (so that an SDK's
// error is classified from the response it came from, with no code of the
// caller's).
//
// # Reuse
//
// [Policy.Do] and [Call] allocate nothing on the success path when the
// caller's context is the one of the policy's previous call
// (context.Background(), a worker's long-lived context): the policy keeps
// the state of a call that ended as its spare, and a call whose parent
// context is the very same one claims it. A state is never pooled across
// parents: its embedded Context is set when it is made and never changes,
// because the context a call hands down may be kept after the call returns
// (a streamed response body, a goroutine the function started) and must
// keep answering Done, Deadline, Err and Value for the parent it was made
// from; a later call with the same parent changes none of those answers.
// Only contexts that == compares without a panic are kept (see
// safeToCompare). A call whose context differs, or that finds the spare
// held by a call running now, makes its own state (one allocation).
//
// What a reused state shares with the later call is its report slot. Each
// claim is a new seq and clears the slot; an inner layer reads seq when it
// starts, and its report is kept only while that call still holds the
// state. So an inner layer that was running when its call returned, and
// reports later, cannot reach a later call (unless it reports exactly a
// multiple of 2^23 calls later: seq has 24 bits). The one residual case: a
// goroutine that outlives its call and starts an inner layer (a nested
// Policy.Do, a request through a RoundTripper) with the kept context while
// a later call with the same parent context runs under the same policy
// reports into that later call. The report is taken only by an attempt
// that failed itself, in place of the classification of its own error; the
// number of attempts stays bounded by the policy's.
//
// The spare keeps the parent context of the call that made it reachable
// (its values too) until a call with another context replaces it.
type callState struct {
	context.Context
	policy *Policy // the outermost policy

	// word holds, in one atomic word, which call holds the state and the
	// last failed outcome an inner layer reported for it. The top seqBits
	// are seq: even while a call holds the state (a new state is held by
	// the call that made it), odd while it is idle, one more on every claim
	// and release, so that it names the call. Below it, the outcome (see
	// packOutcome), 0 when none.
	word atomic.Uint64
}

const (
	seqBits   = 24
	seqShift  = 64 - seqBits
	seqOne    = 1 << seqShift
	outMask   = seqOne - 1
	raBits    = seqShift - 5 // 35: the Retry-After's value
	raMax     = 1<<raBits - 1
	classMask = 7
)

// packOutcome packs o below seq: class+1 in the low 3 bits, then 2 bits of
// unit and raBits of Retry-After: nanoseconds below 2^35 (34 s),
// microseconds below 2^35 µs (9.5 h), else milliseconds (at most 1.09
// years, which any ceiling rejects).
func packOutcome(o Outcome) uint64 {
	ra := max(o.RetryAfter, 0)
	var unit uint64
	switch {
	case ra <= raMax:
	case ra/time.Microsecond <= raMax:
		unit, ra = 1, ra/time.Microsecond
	default:
		unit, ra = 2, min(ra/time.Millisecond, raMax)
	}
	return uint64(ra)<<5 | unit<<3 | uint64(o.Class+1)
}

func unpackOutcome(w uint64) Outcome {
	ra := time.Duration(w & outMask >> 5)
	switch w >> 3 & 3 {
	case 1:
		ra *= time.Microsecond
	case 2:
		ra *= time.Millisecond
	}
	return Outcome{Class: Class(w&classMask) - 1, RetryAfter: ra}
}

// seq returns the seq of the call holding s, or of the last one.
func (s *callState) seq() uint64 { return s.word.Load() >> seqShift }

// Value answers callKey with the call's state and passes every other key on.
func (s *callState) Value(key any) any {
	if key == (callKey{}) {
		return s
	}
	return s.Context.Value(key)
}

// stateOf returns the call state ctx carries, or nil outside any policy.
func stateOf(ctx context.Context) *callState {
	s, _ := ctx.Value(callKey{}).(*callState)
	return s
}

// claim returns the state of a new call whose parent context is ctx, the
// call's seq, and whether the state is the policy's spare (to be released
// when the call ends). It claims the spare if it was made for the same ctx
// and is idle; otherwise it makes a state, which becomes the spare unless
// the spare is held or ctx cannot be compared safely.
func (p *Policy) claim(ctx context.Context) (*callState, uint64, bool) {
	sp := p.spare.Load()
	if sp != nil {
		v := sp.word.Load()
		idle := v&seqOne != 0
		// Safe: the spare's context is a pointer, context.Background() or
		// TODO() (see safeToCompare), so if ctx has the same dynamic type
		// the comparison is of comparable values, and otherwise it is false
		// without comparing. A claim clears a report left for an earlier
		// call.
		if sp.Context == ctx && idle && sp.word.CompareAndSwap(v, v&^outMask+seqOne) {
			return sp, (v>>seqShift + 1) & (1<<seqBits - 1), true
		}
		if !idle {
			// Held by a call running now: it stays the spare, this call
			// gets a state of its own.
			return &callState{Context: ctx, policy: p}, 0, false
		}
	}
	s := &callState{Context: ctx, policy: p} // held, seq 0
	if safeToCompare(ctx) {
		p.spare.Store(s)
		return s, 0, true
	}
	return s, 0, false
}

// release ends the call that claimed s.
func (s *callState) release() { s.word.Add(seqOne) }

// safeToCompare reports whether ctx can be compared with == against any
// context without a panic. A comparison panics when both dynamic types are
// the same non-comparable type, and a struct type that is comparable may
// still hold a non-comparable value in an interface field; a pointer is
// always safe, and so are context.Background() and TODO() (comparing with
// them compares the types first).
func safeToCompare(ctx context.Context) bool {
	return ctx == context.Background() || ctx == context.TODO() ||
		reflect.TypeOf(ctx).Kind() == reflect.Pointer
}

// report records an inner layer's failed outcome for the attempt of call
// seq (read by the inner layer when it started), unless another call holds
// the state now.
func (s *callState) report(seq uint64, o Outcome) {
	if o.Class <= Success || o.Class > Canceled || seq&1 == 1 {
		return // nothing to say, or no call held the state
	}
	out := packOutcome(o)
	for {
		v := s.word.Load()
		if v>>seqShift != seq || s.word.CompareAndSwap(v, v&^outMask|out) {
			return
		}
	}
}

// take returns and clears the outcome an inner layer reported for call
// seq.
func (s *callState) take(seq uint64) (Outcome, bool) {
	for {
		v := s.word.Load()
		if v>>seqShift != seq || v&classMask == 0 {
			return Outcome{}, false
		}
		if s.word.CompareAndSwap(v, v&^outMask) {
			return unpackOutcome(v), true
		}
	}
}

// Inside reports whether ctx belongs to an attempt of a [Policy] (through
// [Policy.Do], [Call] or a [RoundTripper] that marks the requests it sends
// down). Layers below such an attempt make one attempt each; a wrapper of
// yours that has its own retry loop can ask this to do the same.
func Inside(ctx context.Context) bool { return stateOf(ctx) != nil }
