package rotate_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/rotate"
)

// fastRotations sends requests through credential.Transport to a server
// that accepts only the backend's current key, while the key rotates every
// 120 ms of (fake) time, faster than the 5 s minimum refresh interval, and
// no push arrives. It returns how many requests failed with 401.
func fastRotations(t testing.TB, rotations, perRotation int) (failed int64, fetches int32) {
	clk := fakeclock.New(epoch)
	b := newBackend()
	b.set("openai", genKey(0))
	var current atomic.Value
	current.Store(genKey(0))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") != current.Load().(string) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	c, err := rotate.Watch(context.Background(), "openai", b, "openai", rotate.WithClock(clk), rotate.WithInterval(time.Hour, 0), rotate.WithoutPush())
	require.NoError(t, err)
	defer c.Close()
	client := &http.Client{Transport: &credential.Transport{Credential: c, Base: srv.Client().Transport}}
	var bad atomic.Int64
	for gen := 1; gen <= rotations; gen++ {
		clk.Advance(120 * time.Millisecond)
		b.set("openai", genKey(gen))
		current.Store(genKey(gen))
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perRotation/4; i++ {
					resp, err := client.Get(srv.URL)
					if err != nil {
						t.Errorf("request failed: %v", err)
						bad.Add(1)
						continue
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						bad.Add(1)
					}
				}
			}()
		}
		wg.Wait()
	}
	return bad.Load(), b.fetches.Load()
}

// Issue 11, item 12: a 401 for the version that is current may force one
// refresh even inside WithMinRefreshInterval, so fast rotations do not
// reach the caller.
func TestFastRotationsNo401(t *testing.T) {
	failed, fetches := fastRotations(t, 8, 126)
	t.Logf("1008 requests over 8 rotations 120 ms apart: %d failed, %d fetches", failed, fetches)
	assert.Zero(t, failed, "requests that met a 401 though the backend had a newer key")
}
