package rotate_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/provider/file"
	"github.com/credkit/credkit/rotate"
)

// swapData publishes value as kubelet publishes a secret update: a new
// timestamped folder, an atomic rename of the ..data symlink onto it, then
// removal of the old folder.
func swapData(t testing.TB, dir string, gen int, value string) {
	ts := filepath.Join(dir, fmt.Sprintf("..2026_11_25_gen_%06d", gen))
	if err := os.Mkdir(ts, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, "api-key"), []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "api-key")); err != nil {
		if err := os.Symlink("..data/api-key", filepath.Join(dir, "api-key")); err != nil {
			t.Fatal(err)
		}
	}
	if old != "" {
		os.RemoveAll(filepath.Join(dir, old))
	}
}

func genKey(gen int) string { return fmt.Sprintf("sk-proj-FAKEchaos%029d", gen) }

// TestRotationChaos swaps a Kubernetes secret folder's ..data symlink as
// fast as it can for 3 s while 8 goroutines call Get: no read may see an
// empty, partial or unknown value, and the credential must converge on the
// last write.
func TestRotationChaos(t *testing.T) {
	dir := t.TempDir()
	swapData(t, dir, 0, genKey(0))
	c, err := rotate.Watch(context.Background(), "llm", file.New(), dir+"#api-key",
		rotate.WithInterval(50*time.Millisecond, 0.1), rotate.WithBackoff(time.Millisecond, 20*time.Millisecond))
	require.NoError(t, err)
	defer c.Close()

	var written atomic.Int64 // highest generation written
	stop := make(chan struct{})
	var bad, reads atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s, err := c.Get(context.Background())
				reads.Add(1)
				if err != nil || s.Len() != len(genKey(0)) {
					bad.Add(1)
					continue
				}
				var gen int
				if _, err := fmt.Sscanf(s.Reveal(), "sk-proj-FAKEchaos%d", &gen); err != nil || genKey(gen) != s.Reveal() || int64(gen) > written.Load() {
					bad.Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(3 * time.Second)
	gen := 0
	for time.Now().Before(deadline) {
		gen++
		written.Store(int64(gen)) // before the swap: a reader may see it at once
		swapData(t, dir, gen, genKey(gen))
	}
	close(stop)
	wg.Wait()
	assert.Zero(t, bad.Load(), "reads that saw an error, an empty, partial or unknown value")
	assert.Greater(t, reads.Load(), int64(1000))
	t.Logf("%d swaps, %d reads, %d rotations seen", gen, reads.Load(), c.Status().Rotations)
	eventually(t, "converged on the last write", func() bool {
		s, err := c.Get(context.Background())
		return err == nil && s.Reveal() == genKey(gen)
	})
}

// BenchmarkPushLatency measures, per rotation, the time from the atomic
// rename of a secret file to the first Get that returns the new value, with
// push (fsnotify) on and polling set to an hour so that only push counts.
// Run with -benchtime=200x for the p50/p99 quoted in the README.
func BenchmarkPushLatency(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "openai")
	write := func(v string) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(v), 0o600); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	write(genKey(0))
	c, err := rotate.Watch(context.Background(), "openai", file.New(), path, rotate.WithInterval(time.Hour, 0))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		want := genKey(i)
		start := time.Now()
		write(want)
		for {
			s, _ := c.Get(context.Background())
			if s.Reveal() == want {
				break
			}
			if time.Since(start) > 10*time.Second {
				b.Fatalf("rotation %d not seen after 10 s", i)
			}
			time.Sleep(20 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds()), "p99-µs")
}
