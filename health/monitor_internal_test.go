package health

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkMonitorCheckRun measures the cost of one check run in a monitor
// of 1,000 checks: it must not grow with the number of checks.
func BenchmarkMonitorCheckRun(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(strconv.Itoa(n)+"-checks", func(b *testing.B) {
			checks := make([]Check, n)
			for i := range checks {
				checks[i] = Check{Name: "c" + strconv.Itoa(i), Interval: time.Hour,
					Run: func(context.Context) Result { return Passed("ok") }}
			}
			m := NewMonitor(checks)
			defer m.Close()
			// Let every loop finish its first run: run is called by one
			// goroutine per check, and from here on that is this one.
			for m.ver.Load() < uint64(n) {
				runtime.Gosched()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m.run(m.checks[i%n])
			}
		})
	}
}
