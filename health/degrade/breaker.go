package degrade

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/credkit/credkit/credential"
)

// State is a circuit breaker's state.
type State int

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

type bucket struct {
	start     int64 // unix nanoseconds of the bucket's start
	successes int
	failures  int
}

// Breaker is a circuit breaker for one dependency. It opens when, over a
// sliding window (ten buckets), at least a minimum volume of calls was seen
// and the share of failures reached the failure rate; it stays open for a
// period, then lets probes through (half-open). Only Retryable outcomes count
// as failures: a rejected credential, an exhausted quota, a bad request or a
// canceled caller say nothing about the dependency's health.
//
// A Breaker is safe for concurrent use. [NewPolicy] makes one; use
// [Policy.Breaker] to read it.
type Breaker struct {
	name    string
	clock   credential.Clock
	logger  *slog.Logger
	rate    float64
	minVol  int
	width   int64
	openFor time.Duration
	probes  int

	mu        sync.Mutex
	state     State
	b         [buckets]bucket
	openUntil time.Time
	inFlight  int // half-open probes running
	passed    int // half-open probes that succeeded
	since     time.Time
}

func newBreaker(name string, o *options) *Breaker {
	w := int64(o.window) / buckets
	if w <= 0 {
		w = 1
	}
	return &Breaker{
		name: name, clock: o.clock, logger: o.logger, rate: o.failureRate, minVol: o.minVolume,
		width: w, openFor: o.openFor, probes: o.halfOpenProbes, since: o.clock.Now(),
	}
}

// allow reports whether a call may go now; when not, until when the breaker
// stays open. probe is true for a half-open probe.
func (br *Breaker) allow(now time.Time) (ok bool, until time.Time, probe bool) {
	br.mu.Lock()
	defer br.mu.Unlock()
	switch br.state {
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

// record counts one call's outcome.
func (br *Breaker) record(now time.Time, c Class, probe bool) {
	if c != Success && c != Retryable {
		if probe {
			br.mu.Lock()
			br.inFlight--
			br.mu.Unlock()
		}
		return
	}
	failed := c == Retryable
	br.mu.Lock()
	defer br.mu.Unlock()
	if probe {
		br.inFlight--
		if br.state != HalfOpen {
			return
		}
		if failed {
			br.openLocked(now)
			return
		}
		br.passed++
		if br.passed >= br.probes {
			br.b = [buckets]bucket{}
			br.setLocked(Closed, now)
		}
		return
	}
	if br.state != Closed {
		return
	}
	t := now.UnixNano()
	start := t - t%br.width
	cur := &br.b[(t/br.width)%buckets]
	if cur.start != start {
		*cur = bucket{start: start}
	}
	if !failed {
		cur.successes++
		return
	}
	cur.failures++
	var s, f int
	oldest := start - (buckets-1)*br.width
	for i := range br.b {
		if br.b[i].start >= oldest {
			s += br.b[i].successes
			f += br.b[i].failures
		}
	}
	if s+f >= br.minVol && float64(f) >= br.rate*float64(s+f) {
		br.openLocked(now)
	}
}

func (br *Breaker) openLocked(now time.Time) {
	br.openUntil = now.Add(br.openFor)
	br.setLocked(Open, now)
}

func (br *Breaker) setLocked(s State, now time.Time) {
	if br.state == s {
		return
	}
	prev := br.state
	br.state, br.since = s, now
	br.logger.Warn("degrade: circuit breaker state changed", "dependency", br.name, "from", prev.String(), "to", s.String())
}

// State returns the breaker's state, moving an open breaker whose period
// has ended to half-open.
func (br *Breaker) State() State {
	now := br.clock.Now()
	br.mu.Lock()
	defer br.mu.Unlock()
	if br.state == Open && !now.Before(br.openUntil) {
		br.setLocked(HalfOpen, now)
		br.inFlight, br.passed = 0, 0
	}
	return br.state
}

// Since returns when the breaker entered its current state.
func (br *Breaker) Since() time.Time {
	br.mu.Lock()
	defer br.mu.Unlock()
	return br.since
}

// RetryAt returns when an open breaker lets a probe through; the zero time
// when it is not open.
func (br *Breaker) RetryAt() time.Time {
	br.mu.Lock()
	defer br.mu.Unlock()
	if br.state != Open {
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
