package fallback

import (
	"log/slog"
	"time"

	"github.com/credkit/credkit/credential"
)

// ChainOption configures [NewChain].
type ChainOption interface{ applyChain(*options) }

// CacheOption configures [NewCache].
type CacheOption interface{ applyCache(*options) }

// EmbeddingsOption configures [NewEmbeddings].
type EmbeddingsOption interface{ applyEmbeddings(*options) }

// SharedOption is an option every constructor of this package takes:
// [WithClock] and [WithLogger].
type SharedOption interface {
	ChainOption
	CacheOption
	EmbeddingsOption
}

// CachingOption is an option of the two caches, [NewCache] and
// [NewEmbeddings]: [WithSize] and [WithTTL]. A chain has no cache of its
// own, so giving it one does not compile.
type CachingOption interface {
	CacheOption
	EmbeddingsOption
}

type options struct {
	clock  credential.Clock
	logger *slog.Logger
	size   int
	ttl    time.Duration
}

type shared func(*options)

func (f shared) applyChain(o *options)      { f(o) }
func (f shared) applyCache(o *options)      { f(o) }
func (f shared) applyEmbeddings(o *options) { f(o) }

type caching func(*options)

func (f caching) applyCache(o *options)      { f(o) }
func (f caching) applyEmbeddings(o *options) { f(o) }

func finish(o *options) {
	o.clock = credential.ClockOrSystem(o.clock)
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
}

// WithClock sets the time source of cache ages. Default
// credential.SystemClock.
func WithClock(c credential.Clock) SharedOption { return shared(func(o *options) { o.clock = c }) }

// WithLogger sets where changes between fresh and degraded service are
// logged, once per change. Default: nowhere.
func WithLogger(l *slog.Logger) SharedOption { return shared(func(o *options) { o.logger = l }) }

// WithSize bounds a cache (entries; least recently used go first). Default
// 10000. 0 turns the cache off.
func WithSize(n int) CachingOption { return caching(func(o *options) { o.size = max(n, 0) }) }

// WithTTL sets how long a cached answer is served without calling the
// dependency (marked Cached). Past it the dependency is called, and the
// answer is still served, marked Stale, when the dependency fails. Default:
// [NewCache] 0 (always call; stale-if-error only), [NewEmbeddings] 24 h.
func WithTTL(d time.Duration) CachingOption {
	return caching(func(o *options) { o.ttl = d })
}
