package fallback

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
)

// Cache is a stale-if-error cache over the caller's own request and
// response types: a chat completion, a vector query and its matches, a
// reranking. It calls the dependency (under its policy, when it has one)
// and keeps the last good answer per request key; when the dependency
// fails, that answer is served marked Stale instead of an error or, worse,
// an empty result. With [WithTTL] it also reads through: an answer younger
// than the TTL is served marked Cached without calling the dependency.
//
// The key function decides what is cached: it returns the request's key
// (the model, the prompt and every parameter that changes the answer; the
// collection, query, k and filter of a search) and false for a request
// whose answer must not be reused (a chat completion at a temperature above
// 0). Keys are hashed; answers are kept as they are and shared between
// callers: do not modify them.
//
// A Cache is safe for concurrent use.
type Cache[Req, Resp any] struct {
	tracker
	policy *degrade.Policy
	call   func(context.Context, Req) (Resp, error)
	key    func(Req) (string, bool)
	lru    *lru[[sha256.Size]byte, Resp]
	ttl    time.Duration
	clock  credential.Clock
}

// NewCache returns a cache over call, run under policy (nil: call once; the
// SDK's degrade.RoundTripper retries), with requests keyed by key. Options
// and their defaults: [WithClock] (credential.SystemClock), [WithLogger]
// (nowhere), [WithSize] (10000 answers) and [WithTTL] (0: always call, serve
// the cache only when the call fails).
func NewCache[Req, Resp any](policy *degrade.Policy, call func(context.Context, Req) (Resp, error), key func(Req) (string, bool), opts ...CacheOption) *Cache[Req, Resp] {
	o := options{size: 10000}
	for _, f := range opts {
		if f != nil {
			f.applyCache(&o)
		}
	}
	finish(&o)
	name := "cache"
	if policy != nil {
		name = policy.Name()
	}
	c := &Cache[Req, Resp]{tracker: tracker{name: name, logger: o.logger}, policy: policy, call: call, key: key, ttl: o.ttl, clock: o.clock}
	if o.size > 0 {
		c.lru = newLRU[[sha256.Size]byte, Resp](o.size)
	}
	return c
}

// Do answers req: from the cache within the TTL (Cached), from the
// dependency (Fresh), or, when the dependency fails for any reason but a
// canceled caller, from the last good answer to the same key (Stale). With
// no such answer it returns the dependency's error.
func (c *Cache[Req, Resp]) Do(ctx context.Context, req Req) (degrade.Result[Resp], error) {
	var k [sha256.Size]byte
	s, cacheable := c.key(req)
	cacheable = cacheable && c.lru != nil
	if cacheable {
		k = sha256.Sum256([]byte(s))
		if c.ttl > 0 {
			if v, stored, ok := c.lru.get(k); ok && c.clock.Now().Sub(stored) < c.ttl {
				c.mark(degrade.Cached, "cache")
				return degrade.Result[Resp]{Value: v, Marker: degrade.Cached, Source: "cache"}, nil
			}
		}
	}
	var v Resp
	var err error
	if c.policy != nil {
		v, err = degrade.Call(ctx, c.policy, func(ctx context.Context) (Resp, error) { return c.call(ctx, req) })
	} else {
		v, err = c.call(ctx, req)
	}
	if err == nil {
		if cacheable {
			c.lru.put(k, v, c.clock.Now())
		}
		c.mark(degrade.Fresh, c.name)
		return degrade.Result[Resp]{Value: v, Marker: degrade.Fresh, Source: c.name}, nil
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return degrade.Result[Resp]{}, err
	}
	if cacheable {
		if v, _, ok := c.lru.get(k); ok {
			c.mark(degrade.Stale, "cache")
			return degrade.Result[Resp]{Value: v, Marker: degrade.Stale, Source: "cache"}, nil
		}
	}
	return degrade.Result[Resp]{}, err
}

// Counts returns how many answers carried each marker.
func (c *Cache[Req, Resp]) Counts() map[degrade.Marker]int64 { return c.snapshot() }

// Len returns the number of cached answers.
func (c *Cache[Req, Resp]) Len() int { return c.lru.len() }
