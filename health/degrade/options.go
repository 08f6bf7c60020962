package degrade

import (
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/credkit/credkit/credential"
)

// PolicyOption configures [NewPolicy]. Only this package's With… functions
// make one, so an option meant for another constructor (a key pool's, a
// queue's) does not compile here.
type PolicyOption interface{ applyPolicy(*policyOptions) }

type policyOption func(*policyOptions)

func (f policyOption) applyPolicy(o *policyOptions) { f(o) }

type policyOptions struct {
	clock  credential.Clock
	logger *slog.Logger
	rand   func() float64

	maxAttempts       int
	baseDelay         time.Duration
	maxDelay          time.Duration
	maxTotal          time.Duration
	retryAfterCeiling time.Duration
	classify          Classifier
	refresher         credential.Refresher

	noBreaker      bool
	failureRate    float64
	minVolume      int
	window         time.Duration
	openFor        time.Duration
	halfOpenProbes int
}

func buildPolicy(opts []PolicyOption) policyOptions {
	o := policyOptions{
		maxAttempts:       4,
		baseDelay:         200 * time.Millisecond,
		maxDelay:          10 * time.Second,
		maxTotal:          2 * time.Minute,
		retryAfterCeiling: 60 * time.Second,
		failureRate:       0.5,
		minVolume:         10,
		window:            time.Minute,
		openFor:           30 * time.Second,
		halfOpenProbes:    1,
	}
	for _, f := range opts {
		if f != nil {
			f.applyPolicy(&o)
		}
	}
	o.clock = credential.ClockOrSystem(o.clock)
	o.logger = orDiscard(o.logger)
	if o.rand == nil {
		o.rand = rand.Float64
	}
	if o.classify == nil {
		o.classify = ClassifyError
	}
	return o
}

// orDiscard returns l, or a logger that discards everything when l is nil:
// the default of every constructor in degrade and its sub-packages.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// WithClock sets the time source of the policy's timers: backoff waits and
// the breaker's window and open period. Default credential.SystemClock.
// Every sub-package has its own WithClock of the same shape.
func WithClock(c credential.Clock) PolicyOption {
	return policyOption(func(o *policyOptions) { o.clock = c })
}

// WithLogger sets where state changes are logged (breaker opened, credential
// failing), once per change. Default: nowhere. Every sub-package has its own
// WithLogger of the same shape and default.
func WithLogger(l *slog.Logger) PolicyOption {
	return policyOption(func(o *policyOptions) { o.logger = l })
}

// WithRand sets the jitter source: a function returning a float in [0, 1).
// Tests pass a constant. Default math/rand/v2.Float64.
func WithRand(f func() float64) PolicyOption {
	return policyOption(func(o *policyOptions) { o.rand = f })
}

// WithMaxAttempts bounds the calls per logical request, the first one
// included. Default 4. Values below 1 mean 1.
func WithMaxAttempts(n int) PolicyOption {
	return policyOption(func(o *policyOptions) { o.maxAttempts = max(n, 1) })
}

// WithBackoff sets the exponential backoff: attempt n waits a random time in
// [0, min(maxDelay, base·2^(n-1))) (full jitter). Default 200 ms and 10 s.
func WithBackoff(base, maxDelay time.Duration) PolicyOption {
	return policyOption(func(o *policyOptions) { o.baseDelay, o.maxDelay = base, maxDelay })
}

// WithMaxTotal bounds the total time of a request, waits included: a retry
// whose wait would end past it is not made. Default 2 minutes. On the
// system clock with a breaker, the first attempt of a call does not read
// the clock when the breaker's current time bucket is known to hold the
// present; the budget then counts from that bucket's start, at most a
// tenth of the breaker's window before the attempt (6 s with the default
// window): a request may end early by that much, never late.
func WithMaxTotal(d time.Duration) PolicyOption {
	return policyOption(func(o *policyOptions) { o.maxTotal = d })
}

// WithRetryAfterCeiling sets the longest Retry-After the policy sleeps for;
// a longer one fails at once with [ErrRateLimited] (so that a fallback, a
// queue or another key can take over). Default 60 s.
func WithRetryAfterCeiling(d time.Duration) PolicyOption {
	return policyOption(func(o *policyOptions) { o.retryAfterCeiling = d })
}

// WithClassifier sets how errors returned by wrapped calls are classified.
// Default [ClassifyError].
func WithClassifier(c Classifier) PolicyOption {
	return policyOption(func(o *policyOptions) { o.classify = c })
}

// WithRefresher sets what the policy asks to refresh when the dependency
// rejects the credential (401/403): typically the rotate-watched credential
// the request used. Default none: a rejection fails at once.
func WithRefresher(r credential.Refresher) PolicyOption {
	return policyOption(func(o *policyOptions) { o.refresher = r })
}

// WithoutBreaker turns the circuit breaker off.
func WithoutBreaker() PolicyOption {
	return policyOption(func(o *policyOptions) { o.noBreaker = true })
}

// WithBreaker sets when the breaker opens: when, over the sliding window, at
// least minVolume calls were made and at least failureRate of them failed.
// Default 0.5, 10 calls, 1 minute.
func WithBreaker(failureRate float64, minVolume int, window time.Duration) PolicyOption {
	return policyOption(func(o *policyOptions) {
		o.failureRate, o.minVolume, o.window = failureRate, max(minVolume, 1), window
	})
}

// WithOpenFor sets how long an open breaker fails fast before it lets
// probes through (half-open), and how many probes must succeed to close it.
// Default 30 s and 1 probe.
func WithOpenFor(d time.Duration, probes int) PolicyOption {
	return policyOption(func(o *policyOptions) { o.openFor, o.halfOpenProbes = d, max(probes, 1) })
}
