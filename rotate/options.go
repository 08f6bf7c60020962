package rotate

import (
	"log/slog"
	"time"

	"github.com/credkit/credkit/credential"
)

// Option configures [Watch] and [Open]. The defaults are listed on each
// With function.
type Option func(*options)

type options struct {
	clock        credential.Clock
	logger       *slog.Logger
	interval     time.Duration
	safety       time.Duration // the poll interval while push is healthy
	jitter       float64
	backoffBase  time.Duration
	backoffCap   time.Duration
	minRefresh   time.Duration
	fetchTimeout time.Duration
	overlap      time.Duration
	aheadFrac    float64
	aheadMargin  time.Duration
	push         bool
	pending      bool
	md           credential.Metadata
	managed      bool // polled by its Set's batch group, not by itself
	// Set only.
	environment    string
	reminderWindow time.Duration
	reminderEvery  time.Duration
}

func defaults() options {
	return options{
		clock:          credential.SystemClock,
		logger:         slog.New(slog.DiscardHandler),
		interval:       time.Minute,
		safety:         15 * time.Minute,
		jitter:         0.1,
		backoffBase:    time.Second,
		backoffCap:     5 * time.Minute,
		minRefresh:     5 * time.Second,
		fetchTimeout:   30 * time.Second,
		overlap:        10 * time.Minute,
		aheadFrac:      0.8,
		aheadMargin:    time.Minute,
		push:           true,
		reminderWindow: 14 * 24 * time.Hour,
		reminderEvery:  time.Hour,
	}
}

// WithClock sets the clock of every timer (default credential.SystemClock).
// Tests pass a fake clock.
func WithClock(c credential.Clock) Option {
	return func(o *options) { o.clock = credential.ClockOrSystem(c) }
}

// WithLogger sets where rotations, failures and findings are logged (default:
// nowhere). Log records carry names, fingerprints, version IDs and error
// kinds, never values.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithInterval sets the polling interval (default 1 minute). Each wait is
// spread by ±jitter (default 10%) so that replicas do not poll in step.
// Polling stays on under push notification, as a fallback, at the
// [WithSafetyInterval] while the push channel is healthy.
func WithInterval(d time.Duration, jitter float64) Option {
	return func(o *options) {
		if d > 0 {
			o.interval = d
		}
		if jitter >= 0 && jitter < 1 {
			o.jitter = jitter
		}
	}
}

// WithSafetyInterval sets how often a credential polls while its backend
// pushes changes and reports its push channel healthy
// (credential.PushHealth): default 15 minutes, ±jitter. Push carries the
// changes; the safety poll catches an event that was lost. The moment
// push turns unhealthy the credential is back on the normal interval: it
// looks at push health at every normal interval, without calling the
// backend, so the switch waits at most one normal interval. A safety
// interval at or below the normal one turns the relaxation off.
func WithSafetyInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.safety = d
		}
	}
}

// WithBackoff sets the retry delays after a failed refresh: exponential from
// base (default 1 s), doubling per consecutive failure, capped at max
// (default 5 minutes), with full jitter (a uniform draw between zero and the
// delay). The last good value is served meanwhile.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) {
		if base > 0 {
			o.backoffBase = base
		}
		if max >= o.backoffBase {
			o.backoffCap = max
		}
	}
}

// WithMinRefreshInterval sets the least time between two fetches that
// [Credential.Refresh] causes (default 5 s): a storm of 401s from a revoked
// key causes one fetch per interval, not one per request.
func WithMinRefreshInterval(d time.Duration) Option {
	return func(o *options) { o.minRefresh = d }
}

// WithFetchTimeout bounds each background check and fetch (default 30 s).
func WithFetchTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.fetchTimeout = d
		}
	}
}

// WithOverlap sets how long the previous version stays available after a
// rotation, through [Credential.Previous] and to a redactor (default 10
// minutes). Zero drops it at once.
func WithOverlap(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.overlap = d
		}
	}
}

// WithRefreshAhead sets when a version that expires is refreshed: at
// fraction of its lifetime (default 0.8), or margin before it expires
// (default 1 minute), whichever comes first — but the margin counts only for
// a version that lives more than twice as long as it, so a 60 s token is
// refreshed at 48 s (80%), not the moment it arrives. An expired version is never served:
// Get returns [credential.ErrExpired].
func WithRefreshAhead(fraction float64, margin time.Duration) Option {
	return func(o *options) {
		if fraction > 0 && fraction <= 1 {
			o.aheadFrac = fraction
		}
		if margin >= 0 {
			o.aheadMargin = margin
		}
	}
}

// WithoutPush turns off push notification even when the backend offers it
// (default on): the credential then only polls.
func WithoutPush() Option { return func(o *options) { o.push = false } }

// WithPending makes [Watch] return at once, before the first fetch, instead
// of failing fast; Get then waits for the first value until its context
// ends.
func WithPending() Option { return func(o *options) { o.pending = true } }

// WithMetadata sets the credential's metadata (Watch only; a Set takes it
// from its Config).
func WithMetadata(md credential.Metadata) Option { return func(o *options) { o.md = md } }

// WithEnvironment sets the environment a [Set] runs in ("production"). A
// credential whose metadata names another environment is refused unless its
// Config allows it. Default: none, no guard.
func WithEnvironment(env string) Option { return func(o *options) { o.environment = env } }

// WithReminders sets how long before its due date a credential is reported
// as due for rotation (default 14 days), and how often a Set evaluates
// reminders (default hourly).
func WithReminders(window, every time.Duration) Option {
	return func(o *options) {
		if window > 0 {
			o.reminderWindow = window
		}
		if every > 0 {
			o.reminderEvery = every
		}
	}
}
