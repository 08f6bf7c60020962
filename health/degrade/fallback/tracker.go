package fallback

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/credkit/credkit/health/degrade"
)

// tracker counts markers and logs when a wrapper moves between serving
// normally and serving degraded answers.
type tracker struct {
	name     string
	logger   *slog.Logger
	counts   [5]atomic.Int64
	mu       sync.Mutex
	degraded bool
	last     degrade.Marker
}

func (t *tracker) mark(m degrade.Marker, source string) {
	if m >= 0 && int(m) < len(t.counts) {
		t.counts[m].Add(1)
	}
	d := m.Degraded()
	t.mu.Lock()
	if d == t.degraded && (!d || m == t.last) {
		t.mu.Unlock()
		return
	}
	t.degraded, t.last = d, m
	t.mu.Unlock()
	if d {
		t.logger.Warn("fallback: serving degraded answers", "dependency", t.name, "marker", m.String(), "source", source)
	} else {
		t.logger.Info("fallback: serving fresh answers again", "dependency", t.name)
	}
}

func (t *tracker) snapshot() map[degrade.Marker]int64 {
	m := make(map[degrade.Marker]int64)
	for i := range t.counts {
		if v := t.counts[i].Load(); v > 0 {
			m[degrade.Marker(i)] = v
		}
	}
	return m
}
