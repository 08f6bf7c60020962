package degrade

import (
	"context"
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
type callState struct {
	context.Context
	policy *Policy // the outermost policy
	// outcome is the last failed outcome an inner layer reported for the
	// current attempt: class+1 in the low 4 bits, the Retry-After in
	// nanoseconds above them; 0 when none.
	outcome atomic.Int64
}

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

// report records an inner layer's failed outcome for the current attempt.
func (s *callState) report(o Outcome) {
	if o.Class <= Success || o.Class > Canceled {
		return
	}
	ra := max(o.RetryAfter, 0)
	s.outcome.Store(int64(ra)<<4 | int64(o.Class+1))
}

// take returns and clears the outcome an inner layer reported.
func (s *callState) take() (Outcome, bool) {
	v := s.outcome.Swap(0)
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
