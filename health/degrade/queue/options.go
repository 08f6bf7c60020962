package queue

import (
	"log/slog"
	"time"

	"github.com/credkit/credkit/credential"
)

// Option configures [New]. Only this package's With… functions make one, so
// an option of another package does not compile here.
type Option interface{ applyQueue(*options) }

type option func(*options)

func (f option) applyQueue(o *options) { f(o) }

type options struct {
	clock    credential.Clock
	logger   *slog.Logger
	capacity int
	workers  int
	rate     float64
	maxWait  time.Duration
}

func build(opts []Option) options {
	o := options{capacity: 1000, workers: 1, maxWait: 10 * time.Minute}
	for _, f := range opts {
		if f != nil {
			f.applyQueue(&o)
		}
	}
	o.clock = credential.ClockOrSystem(o.clock)
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// WithClock sets the time source of deadlines, the drain rate and the waits
// for a dependency to recover. Default credential.SystemClock.
func WithClock(c credential.Clock) Option { return option(func(o *options) { o.clock = c }) }

// WithLogger sets where store failures are logged. Default: nowhere.
func WithLogger(l *slog.Logger) Option { return option(func(o *options) { o.logger = l }) }

// WithCapacity bounds the queue: a submit beyond it fails at once with
// [ErrFull]. Default 1000.
func WithCapacity(n int) Option { return option(func(o *options) { o.capacity = max(n, 1) }) }

// WithWorkers sets how many items run at once. Default 1.
func WithWorkers(n int) Option { return option(func(o *options) { o.workers = max(n, 1) }) }

// WithRate limits the drain to perSecond items per second (0 means no limit
// beyond the Retry-After the dependency reports). Default 0.
func WithRate(perSecond float64) Option { return option(func(o *options) { o.rate = perSecond }) }

// WithMaxWait sets an item's deadline when the submitter's context has
// none. Default 10 minutes.
func WithMaxWait(d time.Duration) Option { return option(func(o *options) { o.maxWait = d }) }
