package degrade

// Marker says how an answer was produced. Every answer of the fallback
// package's chains and caches, and of a queue, carries one; degraded ones
// are counted and logged once per change of state, never silently served.
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
	// Queued: the request waited in a queue (package queue) for the dependency to recover.
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

// Result is an answer and how it was produced.
type Result[T any] struct {
	Value  T
	Marker Marker
	// Source names what answered: the dependency, a fallback's name, or
	// "cache".
	Source string
}
