package degrade

import (
	"context"
	"reflect"
	"sync"
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
// The success path of [Policy.Do] and [Call] allocates nothing when the
// caller's context is one it has seen before (context.Background(), a
// worker's long-lived context): the policy keeps a few idle states
// (Policy.spares) and a call whose parent context is the very same one
// claims one of them. A state is never pooled across parents: its embedded
// Context is set when it is made and never changes, because the context a
// call hands down may be kept after the call returns (a streamed response
// body, a goroutine the function started) and must keep answering Done,
// Deadline, Err and Value for the parent it was made from. Reusing it for a
// later call with the same parent changes none of those answers.
//
// What a reused state does share with the later call is its report slot.
// Each claim starts a new generation (seq); an inner layer reads the
// generation when it starts and its report carries it, and the outer
// policy takes only a report of its own generation. So an inner layer that
// was running when its call returned, and reports later, cannot reach a
// later call. The one residual case: a goroutine that outlives its call and
// starts an inner layer (a nested Policy.Do, a request through a
// RoundTripper) with the retained context while a later call with the same
// parent context runs under the same policy reports into that later call.
// The report is taken only by an attempt that failed itself, in place of
// the classification of its own error; the number of attempts stays
// bounded by the policy's.
type callState struct {
	context.Context
	policy *Policy // the outermost policy

	// seq is the claim word: odd while a call holds the state, and one
	// more on every claim and release, so that seq identifies the call.
	seq atomic.Uint64

	// mu guards the last failed outcome an inner layer reported: outcome,
	// and outSeq, the seq of the call it was reported for. Only failures
	// take it.
	mu     sync.Mutex
	outSeq uint64
	// outcome is class+1 in the low 4 bits, the Retry-After in nanoseconds
	// above them; 0 when none.
	outcome int64
}

// numSpares is how many idle call states a policy keeps: enough for a few
// goroutines sharing one context at once, small enough that a call with a
// context never seen before pays only a short scan.
const numSpares = 4

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

// claim returns the state of a new call whose parent context is ctx, and
// the call's seq. It reuses an idle spare made for the same ctx, and
// otherwise makes one (and keeps it as a spare when ctx can be compared
// safely).
func (p *Policy) claim(ctx context.Context) (*callState, uint64) {
	victim := -1
	for i := range p.spares {
		s := p.spares[i].Load()
		if s == nil {
			victim = i // the slots fill in order: the rest are empty too
			break
		}
		// Safe: a spare's context is a pointer or context.Background() or
		// TODO(), so if ctx has the same dynamic type the comparison is of
		// comparable values, and otherwise it is false without comparing.
		v := s.seq.Load()
		if s.Context == ctx {
			if v&1 == 0 && s.seq.CompareAndSwap(v, v+1) {
				return s, v + 1
			}
			continue // held by a call running now: it will be back
		}
		if victim < 0 && v&1 == 0 {
			victim = i
		}
	}
	s := &callState{Context: ctx, policy: p}
	s.seq.Store(1)
	if victim >= 0 && safeToCompare(ctx) {
		// Published held: no other call claims it before release.
		p.spares[victim].Store(s)
	}
	return s, 1
}

// release ends the call that claimed s.
func (s *callState) release() { s.seq.Add(1) }

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
// seq (read by the inner layer when it started).
func (s *callState) report(seq uint64, o Outcome) {
	if o.Class <= Success || o.Class > Canceled {
		return
	}
	ra := max(o.RetryAfter, 0)
	s.mu.Lock()
	s.outSeq, s.outcome = seq, int64(ra)<<4|int64(o.Class+1)
	s.mu.Unlock()
}

// take returns and clears the outcome an inner layer reported for call
// seq; a report for another call is left for it (or dropped).
func (s *callState) take(seq uint64) (Outcome, bool) {
	s.mu.Lock()
	v := s.outcome
	if s.outSeq != seq {
		v = 0
	}
	if v != 0 {
		s.outcome = 0
	}
	s.mu.Unlock()
	if v == 0 {
		return Outcome{}, false
	}
	return Outcome{Class: Class(v&15) - 1, RetryAfter: time.Duration(v >> 4)}, true
}

// Inside reports whether ctx belongs to an attempt of a [Policy] (through
// [Policy.Do], [Call] or a [RoundTripper] that marks the requests it sends
// down). Layers below such an attempt make one attempt each; a wrapper of
// yours that has its own retry loop can ask this to do the same.
func Inside(ctx context.Context) bool { return stateOf(ctx) != nil }
