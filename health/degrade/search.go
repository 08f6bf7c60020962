package degrade

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"time"
)

// Match is one vector-search hit.
type Match struct {
	ID      string
	Score   float32
	Payload map[string]string
}

// SearchRequest is a vector-search query: a vector, or a text for databases
// that embed server side, the number of results and an optional filter in
// the database's syntax.
type SearchRequest struct {
	Collection string
	Vector     []float32
	Text       string
	K          int
	Filter     string
}

// Searcher is the vector database a wrapper calls. Implementations must be
// safe for concurrent use; the matches they return must not be modified
// afterwards.
type Searcher interface {
	Search(ctx context.Context, req SearchRequest) ([]Match, error)
}

// Search wraps a [Searcher] with a [Policy] and keeps the last good result
// of every (collection, query, k, filter): when the database fails, that
// result is served marked [Stale] instead of an error or, worse, an empty
// result. Results are not served from the cache while the database works.
//
// A Search is safe for concurrent use.
type Search struct {
	tracker
	s      Searcher
	policy *Policy
	last   *lru[[sha256.Size]byte, []Match]
	clock  interface{ Now() time.Time }
}

// NewSearch returns the wrapper. It reads [WithClock], [WithLogger] and
// [WithCache] (its size bounds the remembered queries; 10000).
func NewSearch(s Searcher, policy *Policy, opts ...Option) *Search {
	o := build(opts)
	w := &Search{tracker: tracker{name: policy.Name(), logger: o.logger}, s: s, policy: policy, clock: o.clock}
	if o.cacheSize > 0 {
		w.last = newLRU[[sha256.Size]byte, []Match](o.cacheSize)
	}
	return w
}

func searchKey(r SearchRequest) [sha256.Size]byte {
	h := sha256.New()
	var b [8]byte
	for _, s := range []string{r.Collection, r.Text, r.Filter} {
		binary.LittleEndian.PutUint64(b[:], uint64(len(s)))
		h.Write(b[:])
		h.Write([]byte(s))
	}
	binary.LittleEndian.PutUint64(b[:], uint64(r.K))
	h.Write(b[:])
	binary.LittleEndian.PutUint64(b[:], uint64(len(r.Vector)))
	h.Write(b[:])
	for _, f := range r.Vector {
		binary.LittleEndian.PutUint32(b[:4], math.Float32bits(f))
		h.Write(b[:4])
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// Search returns the database's matches marked [Fresh], or, when it fails,
// the last good matches for the same query marked [Stale], or the policy's
// error.
func (w *Search) Search(ctx context.Context, req SearchRequest) (Result[[]Match], error) {
	ms, err := Call(ctx, w.policy, func(ctx context.Context) ([]Match, error) { return w.s.Search(ctx, req) })
	if err == nil {
		w.last.put(searchKey(req), ms, w.clock.Now())
		w.mark(Fresh, w.policy.Name())
		return Result[[]Match]{Value: ms, Marker: Fresh, Source: w.policy.Name()}, nil
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return Result[[]Match]{}, err
	}
	if ms, _, ok := w.last.get(searchKey(req)); ok {
		w.mark(Stale, "cache")
		return Result[[]Match]{Value: ms, Marker: Stale, Source: "cache"}, nil
	}
	return Result[[]Match]{}, err
}

// Counts returns how many answers carried each marker.
func (w *Search) Counts() map[Marker]int64 { return w.tracker.Counts() }
