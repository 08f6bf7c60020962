package health_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/internal/fakeclock"
)

// Issue 11, item 13: once every check has passed, readiness says so. With
// a snapshot built and stored by every check's goroutine, an older one
// could be stored last and /readyz stay 503 until the next run.
func TestMonitorNeverServesAnOlderSnapshot(t *testing.T) {
	const monitors, n = 5, 1000
	for i := 0; i < monitors; i++ {
		start := make(chan struct{})
		checks := make([]health.Check, n)
		for j := range checks {
			checks[j] = health.Check{Name: "c" + strconv.Itoa(j), Critical: true, Interval: time.Hour,
				Run: func(context.Context) health.Result { <-start; return health.Passed("ok") }}
		}
		m := health.NewMonitor(checks)
		var passed atomic.Int32
		all := make(chan struct{})
		m.OnChange(func(c health.Change) {
			if c.To == health.Pass && passed.Add(1) == n {
				close(all)
			}
		})
		close(start)
		<-all
		assert.True(t, m.Ready(), "monitor %d: every check passed but readiness fails", i)
		for _, v := range m.Results() {
			if v.Result.Status != health.Pass {
				t.Errorf("monitor %d: %s shows %s after it passed", i, v.Check.Name, v.Result.Status)
				break
			}
		}
		m.Close()
	}
}

// Issue 11, item 14: a check that ignores its context is never started
// again while its previous run goes on, and Close waits for it (goleak
// checks that nothing is left).
func TestMonitorNoPileUpOnACheckIgnoringItsContext(t *testing.T) {
	clk := fakeclock.New(epoch)
	release := make(chan struct{})
	var started, running atomic.Int32
	m := health.NewMonitor([]health.Check{{Name: "stubborn", Interval: time.Second, Timeout: 10 * time.Millisecond,
		Run: func(context.Context) health.Result {
			started.Add(1)
			running.Add(1)
			defer running.Add(-1)
			<-release // ignores its ctx
			return health.Passed("late")
		}}}, health.WithClock(clk))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := 0; i < 20; i++ {
		require.True(t, clk.WaitTimers(ctx, 1), "the check's loop did not re-arm its timer")
		clk.Advance(time.Second)
	}
	require.True(t, clk.WaitTimers(ctx, 1))
	assert.EqualValues(t, 1, started.Load(), "runs started while the previous one was still going")
	r, _ := m.Result("stubborn")
	assert.Equal(t, health.Fail, r.Status)
	assert.Contains(t, r.Output, "still going")

	close(release)
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("Close did not return")
	}
	assert.Zero(t, running.Load(), "Close returned while a run it started was still going")
}
