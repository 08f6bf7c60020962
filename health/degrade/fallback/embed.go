package fallback

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/credkit/credkit/health/degrade"
)

// EmbedFunc calls the embedding service: one vector per input, in order. It
// must be safe for concurrent use and must not keep or modify inputs; the
// vectors it returns become the caller's (and the cache's) and must not be
// modified afterwards.
type EmbedFunc func(ctx context.Context, model string, inputs []string) ([][]float32, error)

type embedKey struct {
	model string
	sum   [sha256.Size]byte
}

// Embeddings wraps an [EmbedFunc] with a [degrade.Policy] and a cache keyed by model
// and input hash (a bounded LRU with a TTL). It reads through the cache:
// inputs cached within the TTL are not sent (saving cost and latency), and
// when the service fails every input found in the cache, even past its TTL,
// is served marked Stale. A cached vector of another model, or whose
// dimension differs from the model's latest answer, is never served.
//
// Vectors returned are shared with the cache: do not modify them.
//
// An Embeddings is safe for concurrent use.
type Embeddings struct {
	tracker
	emb    EmbedFunc
	policy *degrade.Policy
	cache  *lru[embedKey, []float32]
	ttl    time.Duration
	clock  interface{ Now() time.Time }

	mu   sync.Mutex
	dims map[string]int // model → dimension of its latest fresh answer
}

// NewEmbeddings returns the wrapper of embed, run under policy (required).
// Options and their defaults: [WithClock] (credential.SystemClock),
// [WithLogger] (nowhere), [WithSize] (10000 vectors) and [WithTTL] (24 h).
func NewEmbeddings(policy *degrade.Policy, embed EmbedFunc, opts ...EmbeddingsOption) *Embeddings {
	o := options{size: 10000, ttl: 24 * time.Hour}
	for _, f := range opts {
		if f != nil {
			f.applyEmbeddings(&o)
		}
	}
	finish(&o)
	w := &Embeddings{
		tracker: tracker{name: policy.Name(), logger: o.logger},
		emb:     embed, policy: policy, ttl: o.ttl, clock: o.clock, dims: map[string]int{},
	}
	if o.size > 0 {
		w.cache = newLRU[embedKey, []float32](o.size)
	}
	return w
}

func keyOf(model, input string) embedKey {
	return embedKey{model: model, sum: sha256.Sum256([]byte(input))}
}

func (w *Embeddings) dim(model string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dims[model]
}

// lookup fills out[i] for the inputs the cache holds, fresh only or any age,
// and returns the indexes still missing.
func (w *Embeddings) lookup(model string, keys []embedKey, out [][]float32, anyAge bool, missing []int) []int {
	d := w.dim(model)
	now := w.clock.Now()
	missing = missing[:0]
	for i, k := range keys {
		if out[i] != nil {
			continue
		}
		v, stored, ok := w.cache.get(k)
		if ok && len(v) == d && (anyAge || now.Sub(stored) < w.ttl) {
			out[i] = v
			continue
		}
		missing = append(missing, i)
	}
	return missing
}

// Embed returns one vector per input, marked Fresh when the service was
// called, Cached when every input was a fresh cache hit, or Stale when
// the service failed and the cache had every input. Otherwise it returns the
// policy's error.
func (w *Embeddings) Embed(ctx context.Context, model string, inputs []string) (degrade.Result[[][]float32], error) {
	out := make([][]float32, len(inputs))
	var kbuf [8]embedKey
	keys := kbuf[:0]
	for _, in := range inputs {
		keys = append(keys, keyOf(model, in))
	}
	missing := w.lookup(model, keys, out, false, nil)
	if len(missing) == 0 {
		w.mark(degrade.Cached, "cache")
		return degrade.Result[[][]float32]{Value: out, Marker: degrade.Cached, Source: "cache"}, nil
	}
	ask := make([]string, len(missing))
	for j, i := range missing {
		ask[j] = inputs[i]
	}
	vecs, err := degrade.Call(ctx, w.policy, func(ctx context.Context) ([][]float32, error) {
		v, err := w.emb(ctx, model, ask)
		if err == nil && len(v) != len(ask) {
			return nil, &degrade.Error{Dependency: w.policy.Name(), Kind: degrade.ErrPermanent,
				Err: fmt.Errorf("embedder returned %d vectors for %d inputs", len(v), len(ask))}
		}
		return v, err
	})
	if err == nil {
		now := w.clock.Now()
		if len(vecs) > 0 {
			w.mu.Lock()
			w.dims[model] = len(vecs[0])
			w.mu.Unlock()
		}
		for j, i := range missing {
			out[i] = vecs[j]
			w.cache.put(keys[i], vecs[j], now)
		}
		w.mark(degrade.Fresh, w.policy.Name())
		return degrade.Result[[][]float32]{Value: out, Marker: degrade.Fresh, Source: w.policy.Name()}, nil
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return degrade.Result[[][]float32]{}, err
	}
	if w.cache != nil {
		if still := w.lookup(model, keys, out, true, missing); len(still) == 0 {
			w.mark(degrade.Stale, "cache")
			return degrade.Result[[][]float32]{Value: out, Marker: degrade.Stale, Source: "cache"}, nil
		}
	}
	return degrade.Result[[][]float32]{}, err
}

// Counts returns how many answers carried each marker.
func (w *Embeddings) Counts() map[degrade.Marker]int64 { return w.snapshot() }

// Len returns the number of cached vectors.
func (w *Embeddings) Len() int { return w.cache.len() }
