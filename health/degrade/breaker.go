package degrade

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credkit/credkit/credential"
)

// State is a circuit breaker's state.
type State int32

const (
	// Closed: calls go through; failures are counted.
	Closed State = iota
	// Open: calls fail fast with [ErrCircuitOpen] until the open period ends.
	Open
	// HalfOpen: a few probe calls go through; their success closes the
	// breaker, a failure opens it again.
	HalfOpen
)

// String returns "closed", "open" or "half-open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "state(" + itoa(int(s)) + ")"
}

const buckets = 10

// bucket counts the outcomes of one tenth of the window. Successes are
// counted without the lock while the bucket is current (the hot path);
// failures and the move to a new bucket take the lock.
type bucket struct {
	start     atomic.Int64 // unix nanoseconds of the bucket's start
	successes atomic.Int64
	failures  atomic.Int64
}

// Breaker is a circuit breaker for one dependency. It opens when, over a
// sliding window (ten buckets), at least a minimum volume of calls was seen
// and the share of failures reached the failure rate; it stays open for a
// period, then lets probes through (half-open). Only Retryable outcomes count
// as failures: a rejected credential, an exhausted quota, a bad request, an
// error raised before anything was sent or a canceled caller say nothing
// about the dependency's health.
//
// A Breaker is safe for concurrent use. [NewPolicy] makes one; use
// [Policy.Breaker] to read it.
type Breaker struct {
	name    string
	clock   credential.Clock
	logger  *slog.Logger
	rate    float64
	minVol  int64
	width   int64
	openFor time.Duration
	probes  int

	state atomic.Int32 // State; written under mu
	b     [buckets]bucket
	cur   atomic.Int32 // index in b of the bucket made current last
	// retired is the successes of the buckets reset so far: with the
	// buckets' own, every success the breaker counted (the policy's
	// Counts reads them instead of counting successes twice).
	retired atomic.Int64

	// fresh is set (system clock only, by Policy.freshen) while the
	// current bucket holds the present: a policy then counts a first
	// attempt's success there without reading the clock. stale clears it
	// when the bucket ends; a reset or a move of the state clears it too.
	fresh atomic.Bool
	// onExpire, when set (tests), is called after stale clears fresh.
	onExpire func()

	mu        sync.Mutex
	stale     *time.Timer   // see fresh
	changes   []stateChange // logged by unlock, after the lock is released
	openUntil time.Time
	inFlight  int // half-open probes running
	passed    int // half-open probes that succeeded
	since     time.Time
}

func newBreaker(name string, o *policyOptions) *Breaker {
	w := int64(o.window) / buckets
	if w <= 0 {
		w = 1
	}
	return &Breaker{
		name: name, clock: o.clock, logger: o.logger, rate: o.failureRate, minVol: int64(o.minVolume),
		width: w, openFor: o.openFor, probes: o.halfOpenProbes, since: o.clock.Now(),
	}
}

// allow reports whether a call may go now; when not, until when the breaker
// stays open. probe is true for a half-open probe.
func (br *Breaker) allow(now time.Time) (ok bool, until time.Time, probe bool) {
	if State(br.state.Load()) == Closed {
		return true, time.Time{}, false
	}
	br.mu.Lock()
	defer br.unlock()
	switch State(br.state.Load()) {
	case Closed:
		return true, time.Time{}, false
	case Open:
		if now.Before(br.openUntil) {
			return false, br.openUntil, false
		}
		br.setLocked(HalfOpen, now)
		br.inFlight, br.passed = 0, 0
	}
	if br.inFlight+br.passed >= br.probes {
		return false, now.Add(br.openFor / 10), false
	}
	br.inFlight++
	return true, time.Time{}, true
}

// succeeded counts a success (not a probe's) at t, Unix nanoseconds, when
// the breaker is closed and t falls in the current bucket: no lock, no
// division. It reports false when the call must go to record instead.
func (br *Breaker) succeeded(t int64) bool {
	if State(br.state.Load()) != Closed {
		return false
	}
	cur := &br.b[br.cur.Load()]
	if s := cur.start.Load(); t >= s && t-s < br.width {
		cur.successes.Add(1)
		return true
	}
	return false
}

// successes returns how many successes the breaker counted in its buckets
// since it was made.
func (br *Breaker) successes() int64 {
	n := br.retired.Load()
	for i := range br.b {
		n += br.b[i].successes.Load()
	}
	return n
}

// record counts one call's outcome. counted reports whether it was a
// success counted in a bucket (see successes).
func (br *Breaker) record(now time.Time, c Class, probe bool) (counted bool) {
	if !probe && c == Success && br.succeeded(now.UnixNano()) {
		return true
	}
	if c != Success && c != Retryable {
		if probe {
			br.mu.Lock()
			br.inFlight--
			br.unlock()
		}
		return false
	}
	failed := c == Retryable
	br.mu.Lock()
	defer br.unlock()
	if probe {
		br.inFlight--
		if State(br.state.Load()) != HalfOpen {
			return false
		}
		if failed {
			br.openLocked(now)
			return false
		}
		br.passed++
		if br.passed >= br.probes {
			br.resetLocked()
			br.setLocked(Closed, now)
		}
		return false
	}
	if State(br.state.Load()) != Closed {
		return false
	}
	t := now.UnixNano()
	start := t - t%br.width
	idx := (t / br.width) % buckets
	cur := &br.b[idx]
	if cur.start.Load() != start {
		br.retired.Add(cur.successes.Swap(0))
		cur.failures.Store(0)
		cur.start.Store(start)
	}
	if start >= br.b[br.cur.Load()].start.Load() {
		// Only forward: a long call records at the time it started, in an
		// older bucket, and must not send the hot path back there.
		br.cur.Store(int32(idx))
	}
	if !failed {
		cur.successes.Add(1)
		return true
	}
	cur.failures.Add(1)
	var s, f int64
	oldest := start - (buckets-1)*br.width
	for i := range br.b {
		if br.b[i].start.Load() >= oldest {
			s += br.b[i].successes.Load()
			f += br.b[i].failures.Load()
		}
	}
	if s+f >= br.minVol && float64(f) >= br.rate*float64(s+f) {
		br.openLocked(now)
	}
	return false
}

// expire is the stale timer's function: the current bucket has ended.
func (br *Breaker) expire() {
	br.fresh.Store(false)
	if br.onExpire != nil {
		br.onExpire()
	}
}

func (br *Breaker) resetLocked() {
	br.fresh.Store(false)
	for i := range br.b {
		br.b[i].start.Store(0)
		br.retired.Add(br.b[i].successes.Swap(0))
		br.b[i].failures.Store(0)
	}
}

func (br *Breaker) openLocked(now time.Time) {
	br.openUntil = now.Add(br.openFor)
	br.setLocked(Open, now)
}

type stateChange struct{ from, to State }

func (br *Breaker) setLocked(s State, now time.Time) {
	prev := State(br.state.Load())
	if prev == s {
		return
	}
	br.fresh.Store(false)
	br.state.Store(int32(s))
	br.since = now
	br.changes = append(br.changes, stateChange{prev, s})
}

// unlock releases the lock, then logs the state changes made under it: no
// lock is held across a call into the logger's handler.
func (br *Breaker) unlock() {
	changes := br.changes
	br.changes = nil
	br.mu.Unlock()
	for _, c := range changes {
		br.logger.Warn("degrade: circuit breaker state changed", "dependency", br.name, "from", c.from.String(), "to", c.to.String())
	}
}

// State returns the breaker's state, moving an open breaker whose period
// has ended to half-open.
func (br *Breaker) State() State {
	now := br.clock.Now()
	br.mu.Lock()
	defer br.unlock()
	if State(br.state.Load()) == Open && !now.Before(br.openUntil) {
		br.setLocked(HalfOpen, now)
		br.inFlight, br.passed = 0, 0
	}
	return State(br.state.Load())
}

// Since returns when the breaker entered its current state.
func (br *Breaker) Since() time.Time {
	br.mu.Lock()
	defer br.unlock()
	return br.since
}

// RetryAt returns when an open breaker lets a probe through; the zero time
// when it is not open.
func (br *Breaker) RetryAt() time.Time {
	br.mu.Lock()
	defer br.unlock()
	if State(br.state.Load()) != Open {
		return time.Time{}
	}
	return br.openUntil
}

// Check is a health check: nil while the breaker is closed or half-open, an
// [*Error] matching [ErrCircuitOpen] while it is open.
func (br *Breaker) Check(ctx context.Context) error {
	if br.State() == Open {
		return &Error{Dependency: br.name, Kind: ErrCircuitOpen, RetryAfter: br.RetryAt().Sub(br.clock.Now())}
	}
	return nil
}
