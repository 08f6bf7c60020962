package degrade

import (
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/credkit/credkit/credential"
)

// Option configures a [Policy], a [Queue], a [Pool] or one of the typed
// wrappers. Each constructor's doc lists the options it reads and their
// defaults; an option a constructor does not read is ignored.
type Option func(*options)

type options struct {
	clock  credential.Clock
	logger *slog.Logger
	rand   func() float64

	// retry
	maxAttempts       int
	baseDelay         time.Duration
	maxDelay          time.Duration
	maxTotal          time.Duration
	retryAfterCeiling time.Duration
	classify          Classifier
	refresher         credential.Refresher

	// breaker
	noBreaker      bool
	failureRate    float64
	minVolume      int
	window         time.Duration
	openFor        time.Duration
	halfOpenProbes int

	// queue
	capacity int
	workers  int
	rate     float64
	maxWait  time.Duration

	// caches
	cacheSize int
	ttl       time.Duration

	// pool
	weights    []int
	quarantine time.Duration
	pool       *Pool
	inject     credential.Injector
	chatQueue  *Queue[ChatRequest, ChatResponse]
	cacheSet   bool
}

func defaults() options {
	return options{
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
		capacity:          1000,
		workers:           1,
		maxWait:           10 * time.Minute,
		cacheSize:         10000,
		ttl:               24 * time.Hour,
		quarantine:        10 * time.Minute,
	}
}

func build(opts []Option) options {
	o := defaults()
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	o.clock = credential.ClockOrSystem(o.clock)
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if o.rand == nil {
		o.rand = rand.Float64
	}
	if o.classify == nil {
		o.classify = ClassifyError
	}
	return o
}

// WithClock sets the time source of every timer: backoff, breaker window,
// queue deadlines, cache TTLs, key cool-downs. Default credential.SystemClock.
func WithClock(c credential.Clock) Option { return func(o *options) { o.clock = c } }

// WithLogger sets where state changes are logged (breaker opened, serving
// cached answers, key quarantined), once per change. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRand sets the jitter source: a function returning a float in [0, 1).
// Tests pass a constant. Default math/rand/v2.Float64.
func WithRand(f func() float64) Option { return func(o *options) { o.rand = f } }

// WithMaxAttempts bounds the calls per request, the first one included.
// Default 4. Values below 1 mean 1.
func WithMaxAttempts(n int) Option { return func(o *options) { o.maxAttempts = max(n, 1) } }

// WithBackoff sets the exponential backoff: attempt n waits a random time in
// [0, min(maxDelay, base·2^(n-1))) (full jitter). Default 200 ms and 10 s.
func WithBackoff(base, maxDelay time.Duration) Option {
	return func(o *options) { o.baseDelay, o.maxDelay = base, maxDelay }
}

// WithMaxTotal bounds the total time of a request, waits included: a retry
// whose wait would end past it is not made. Default 2 minutes.
func WithMaxTotal(d time.Duration) Option { return func(o *options) { o.maxTotal = d } }

// WithRetryAfterCeiling sets the longest Retry-After the policy sleeps for;
// a longer one fails at once with [ErrRateLimited] (so that a fallback, a
// queue or another key can take over). Default 60 s.
func WithRetryAfterCeiling(d time.Duration) Option {
	return func(o *options) { o.retryAfterCeiling = d }
}

// WithClassifier sets how errors returned by wrapped calls are classified.
// Default [ClassifyError].
func WithClassifier(c Classifier) Option { return func(o *options) { o.classify = c } }

// WithRefresher sets what the policy asks to refresh when the dependency
// rejects the credential (401/403): typically the rotate-watched credential
// the request used. Default none: a rejection fails at once.
func WithRefresher(r credential.Refresher) Option { return func(o *options) { o.refresher = r } }

// WithoutBreaker turns the circuit breaker off.
func WithoutBreaker() Option { return func(o *options) { o.noBreaker = true } }

// WithBreaker sets when the breaker opens: when, over the sliding window, at
// least minVolume calls were made and at least failureRate of them failed.
// Default 0.5, 10 calls, 1 minute.
func WithBreaker(failureRate float64, minVolume int, window time.Duration) Option {
	return func(o *options) { o.failureRate, o.minVolume, o.window = failureRate, max(minVolume, 1), window }
}

// WithOpenFor sets how long an open breaker fails fast before it lets
// probes through (half-open), and how many probes must succeed to close it.
// Default 30 s and 1 probe.
func WithOpenFor(d time.Duration, probes int) Option {
	return func(o *options) { o.openFor, o.halfOpenProbes = d, max(probes, 1) }
}

// WithCapacity bounds a [Queue]: a submit beyond it fails at once with
// [ErrQueueFull]. Default 1000.
func WithCapacity(n int) Option { return func(o *options) { o.capacity = max(n, 1) } }

// WithWorkers sets how many items a [Queue] runs at once. Default 1.
func WithWorkers(n int) Option { return func(o *options) { o.workers = max(n, 1) } }

// WithRate limits a [Queue]'s drain to perSecond items per second (0 means
// no limit beyond the Retry-After the dependency reports). Default 0.
func WithRate(perSecond float64) Option { return func(o *options) { o.rate = perSecond } }

// WithMaxWait sets a queue item's deadline when the submitter's context has
// none. Default 10 minutes.
func WithMaxWait(d time.Duration) Option { return func(o *options) { o.maxWait = d } }

// WithCache sets the size (entries) and time to live of a wrapper's cache.
// Default 10000 entries and 24 hours. A size of 0 turns the cache off.
func WithCache(size int, ttl time.Duration) Option {
	return func(o *options) { o.cacheSize, o.ttl, o.cacheSet = size, ttl, true }
}

// WithWeights makes a [Pool] pick keys by smooth weighted round robin, key i
// getting weights[i] of the traffic. Default: plain round robin.
func WithWeights(weights ...int) Option { return func(o *options) { o.weights = weights } }

// WithQuarantine sets how long a [Pool] key stays out of rotation after a
// 401, 403 or quota error whose refresh gave no new value; after it the key
// is tried again. Default 10 minutes.
func WithQuarantine(d time.Duration) Option { return func(o *options) { o.quarantine = d } }

// WithPool makes a [RoundTripper] put a key of pool into every attempt with
// inject (nil means credential.Bearer()), and feed each answer back to the
// pool: a 429 cools that key and the next attempt uses another one at once;
// a 401/403 or quota error refreshes or quarantines it. Default: no pool
// (the request goes out as it came, typically to a credential.Transport).
func WithPool(pool *Pool, inject credential.Injector) Option {
	return func(o *options) { o.pool, o.inject = pool, inject }
}
