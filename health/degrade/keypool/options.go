package keypool

import (
	"log/slog"
	"time"

	"github.com/credkit/credkit/credential"
)

// Option configures [New]. Only this package's With… functions make one, so
// an option of another package does not compile here.
type Option interface{ applyPool(*options) }

type option func(*options)

func (f option) applyPool(o *options) { f(o) }

type options struct {
	clock      credential.Clock
	logger     *slog.Logger
	weights    []int
	quarantine time.Duration
}

func build(opts []Option) options {
	o := options{quarantine: 10 * time.Minute}
	for _, f := range opts {
		if f != nil {
			f.applyPool(&o)
		}
	}
	o.clock = credential.ClockOrSystem(o.clock)
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// WithClock sets the time source of cool-downs and quarantines. Default
// credential.SystemClock.
func WithClock(c credential.Clock) Option { return option(func(o *options) { o.clock = c }) }

// WithLogger sets where key state changes are logged (cooling, quarantined,
// back in rotation), once per change, by key name only. Default: nowhere.
func WithLogger(l *slog.Logger) Option { return option(func(o *options) { o.logger = l }) }

// WithWeights makes the pool pick keys by smooth weighted round robin, key i
// getting weights[i] of the traffic. Default: plain round robin.
func WithWeights(weights ...int) Option { return option(func(o *options) { o.weights = weights }) }

// WithQuarantine sets how long a key stays out of rotation after a 401, 403
// or quota error whose refresh gave no new value; after it the key is tried
// again. Default 10 minutes.
func WithQuarantine(d time.Duration) Option {
	return option(func(o *options) { o.quarantine = d })
}
