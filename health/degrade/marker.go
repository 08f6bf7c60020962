package degrade

import (
	"log/slog"
	"sync"
	"sync/atomic"
)

// Marker says how an answer was produced. Every answer of the typed
// wrappers carries one; degraded ones are counted and logged once per change
// of state, never silently served.
type Marker int

const (
	// Fresh: the dependency answered this request.
	Fresh Marker = iota
	// Cached: served from the cache, within its TTL, without calling the
	// dependency (read-through hit).
	Cached
	// Stale: the dependency failed and the last good answer was served, older
	// than its TTL or, for vector search, possibly out of date.
	Stale
	// Fallback: the primary failed and a fallback (another key, model or
	// provider) answered.
	Fallback
	// Queued: the request waited in a [Queue] for the dependency to recover.
	Queued
)

var markerNames = [...]string{"fresh", "cached", "stale", "fallback", "queued"}

// String returns the marker in lower case ("stale").
func (m Marker) String() string {
	if m >= 0 && int(m) < len(markerNames) {
		return markerNames[m]
	}
	return "marker(" + itoa(int(m)) + ")"
}

// Degraded reports whether the answer did not come fresh from the primary
// dependency (Stale, Fallback or Queued). A read-through cache hit is not
// degraded.
func (m Marker) Degraded() bool { return m == Stale || m == Fallback || m == Queued }

// Result is a wrapper's answer and how it was produced.
type Result[T any] struct {
	Value  T
	Marker Marker
	// Source names what answered: the dependency, a fallback's name, or
	// "cache".
	Source string
}

// tracker counts markers and logs when a wrapper moves between serving
// normally and serving degraded answers.
type tracker struct {
	name     string
	logger   *slog.Logger
	counts   [len(markerNames)]atomic.Int64
	mu       sync.Mutex
	degraded bool
	last     Marker
}

func (t *tracker) mark(m Marker, source string) {
	t.counts[m].Add(1)
	d := m.Degraded()
	t.mu.Lock()
	if d == t.degraded && (!d || m == t.last) {
		t.mu.Unlock()
		return
	}
	t.degraded, t.last = d, m
	t.mu.Unlock()
	if d {
		t.logger.Warn("degrade: serving degraded answers", "dependency", t.name, "marker", m.String(), "source", source)
	} else {
		t.logger.Info("degrade: serving fresh answers again", "dependency", t.name)
	}
}

// Counts returns how many answers carried each marker.
func (t *tracker) Counts() map[Marker]int64 {
	m := make(map[Marker]int64)
	for i := range t.counts {
		if v := t.counts[i].Load(); v > 0 {
			m[Marker(i)] = v
		}
	}
	return m
}
