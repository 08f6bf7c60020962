package keypool_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"go.uber.org/goleak"

	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/internal/degradetest"
	"github.com/credkit/credkit/health/degrade/keypool"
	"github.com/credkit/credkit/internal/fakeclock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	keyOld = degradetest.KeyOld
	keyNew = degradetest.KeyNew
	keyC   = degradetest.KeyC
)

type step = degradetest.Step

var (
	newFaultServer = degradetest.NewServer
	newClock       = degradetest.NewClock
	async          = degradetest.Async
	get            = degradetest.Get
	statics        = degradetest.Statics
)

func poolOf(t *testing.T, clk *fakeclock.Clock, keys []credential.Credential, opts ...keypool.Option) *keypool.Pool {
	t.Helper()
	p, err := keypool.New("openai", keys, append([]keypool.Option{keypool.WithClock(clk)}, opts...)...)
	require.NoError(t, err)
	return p
}

// client is the documented wiring: a degrade.RoundTripper over the pool's
// Transport.
func client(clk *fakeclock.Clock, pool *keypool.Pool, opts ...degrade.PolicyOption) (*http.Client, *degrade.Policy) {
	p := degrade.NewPolicy("openai", append([]degrade.PolicyOption{degrade.WithClock(clk), degrade.WithoutBreaker()}, opts...)...)
	return &http.Client{Transport: degrade.NewRoundTripper(keypool.NewTransport(nil, pool, nil), p)}, p
}

func countKeys(keys []string) map[string]int {
	m := map[string]int{}
	for _, k := range keys {
		m[k]++
	}
	return m
}

func TestPoolSpreadsLoad(t *testing.T) {
	tests := []struct {
		name string
		opts []keypool.Option
		n    int
		want []int
	}{
		{"round robin", nil, 9, []int{3, 3, 3}},
		{"weighted", []keypool.Option{keypool.WithWeights(2, 1, 1)}, 8, []int{4, 2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFaultServer(t)
			clk := newClock()
			pool := poolOf(t, clk, statics(keyOld, keyNew, keyC), tt.opts...)
			c, _ := client(clk, pool)
			for i := 0; i < tt.n; i++ {
				resp, err := get(t, c, fs.URL)
				require.NoError(t, err)
				require.Equal(t, 200, resp.StatusCode)
			}
			got := countKeys(fs.Keys())
			assert.True(t, got[keyOld] == tt.want[0] && got[keyNew] == tt.want[1] && got[keyC] == tt.want[2],
				"uses per key: %d %d %d", got[keyOld], got[keyNew], got[keyC])
			for i, k := range pool.Keys() {
				assert.EqualValues(t, tt.want[i], k.Uses)
				assert.Equal(t, keypool.Ready, k.Status)
			}
		})
	}
}

func TestPoolSkipsCoolingKey(t *testing.T) {
	fs := newFaultServer(t, step{ByKey: map[string]int{keyOld: 429}, Header: map[string]string{"Retry-After": "30"}})
	clk := newClock()
	pool := poolOf(t, clk, statics(keyOld, keyNew))
	c, p := client(clk, pool)

	resp, err := get(t, c, fs.URL)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode, "the 429 moved the request to the other key at once")
	assert.Equal(t, int64(0), p.Counts()[degrade.Rejected])
	ks := pool.Keys()
	assert.Equal(t, keypool.Cooling, ks[0].Status)
	assert.Equal(t, clk.Now().Add(30*time.Second), ks[0].Until)

	// Across requests, the cooling key is skipped until its wait is over.
	for i := 0; i < 4; i++ {
		_, err := get(t, c, fs.URL)
		require.NoError(t, err)
	}
	got := countKeys(fs.Keys())
	assert.True(t, got[keyOld] == 1 && got[keyNew] == 5, "cooling key skipped: %d %d", got[keyOld], got[keyNew])

	clk.Advance(30 * time.Second)
	assert.Equal(t, keypool.Ready, pool.Keys()[0].Status)
	fs.Script(step{Status: 200})
	_, _ = get(t, c, fs.URL)
	_, _ = get(t, c, fs.URL)
	got = countKeys(fs.Keys())
	assert.Equal(t, 2, got[keyOld], "back in rotation")
}

func TestPoolAllKeysCoolingWaitsForTheFirst(t *testing.T) {
	fs := newFaultServer(t, step{Status: 429, Header: map[string]string{"Retry-After": "5"}}, step{Status: 429, Header: map[string]string{"Retry-After": "9"}}, step{Status: 200})
	clk := newClock()
	pool := poolOf(t, clk, statics(keyOld, keyNew))
	c, _ := client(clk, pool, degrade.WithRand(func() float64 { return 0 }))
	var resp *http.Response
	var err error
	elapsed := async(clk, func() { resp, err = get(t, c, fs.URL) })
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, 5*time.Second, elapsed, "waited for the key that cools first")
}

func TestPoolQuarantinesRejectedKey(t *testing.T) {
	fs := newFaultServer(t, step{ByKey: map[string]int{keyOld: 401}})
	clk := newClock()
	pool := poolOf(t, clk, statics(keyOld, keyNew), keypool.WithQuarantine(time.Hour))
	c, p := client(clk, pool)
	for i := 0; i < 5; i++ {
		resp, err := get(t, c, fs.URL)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
	}
	got := countKeys(fs.Keys())
	assert.Equal(t, 1, got[keyOld], "quarantined across requests after one 401")
	ks := pool.Keys()
	assert.Equal(t, keypool.Quarantined, ks[0].Status)
	assert.Equal(t, degrade.Rejected, ks[0].Reason)
	assert.ErrorIs(t, pool.KeyCheck("keya")(context.Background()), degrade.ErrCredentialRejected)
	assert.NoError(t, pool.KeyCheck("keyb")(context.Background()))
	assert.NoError(t, pool.Check(context.Background()))
	assert.NoError(t, p.Check(context.Background()), "the pool absorbed it")

	// Every key rejected: the last 401 goes back to the SDK, then the pool
	// reports no usable key.
	fs.Script(step{Status: 401})
	resp, err := get(t, c, fs.URL)
	require.NoError(t, err)
	assert.Equal(t, 401, resp.StatusCode)
	assert.ErrorIs(t, p.Check(context.Background()), degrade.ErrCredentialRejected)
	_, err = get(t, c, fs.URL)
	assert.ErrorIs(t, err, keypool.ErrNoKey)
	assert.ErrorIs(t, pool.Check(context.Background()), keypool.ErrNoKey)

	// After the quarantine the keys are tried again.
	clk.Advance(time.Hour)
	fs.Script(step{Status: 200})
	resp, err = get(t, c, fs.URL)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
}

func TestPoolRefreshesRejectedKey(t *testing.T) {
	fs := newFaultServer(t)
	v := keyNew
	fs.Valid.Store(&v)
	clk := newClock()
	rot := degradetest.NewRotating("rotating", keyOld, keyNew)
	pool := poolOf(t, clk, []credential.Credential{rot})
	c, _ := client(clk, pool)
	resp, err := get(t, c, fs.URL)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.EqualValues(t, 1, rot.Refreshes.Load())
	assert.Equal(t, keypool.Ready, pool.Keys()[0].Status)
}

func TestPoolQuotaQuarantine(t *testing.T) {
	fs := newFaultServer(t, step{ByKey: map[string]int{keyOld: 429}, Body: `{"error":{"code":"insufficient_quota"}}`})
	clk := newClock()
	pool := poolOf(t, clk, statics(keyOld, keyNew))
	c, _ := client(clk, pool)
	_, err := get(t, c, fs.URL)
	require.NoError(t, err)
	ks := pool.Keys()
	assert.Equal(t, keypool.Quarantined, ks[0].Status)
	assert.Equal(t, degrade.Quota, ks[0].Reason)
	assert.ErrorIs(t, pool.KeyCheck("keya")(context.Background()), degrade.ErrQuotaExhausted)
}

func TestPoolAsCredential(t *testing.T) {
	clk := newClock()
	pool := poolOf(t, clk, statics(keyOld, keyNew))
	var _ credential.Credential = pool
	a, err := pool.Get(context.Background())
	require.NoError(t, err)
	b, err := pool.Get(context.Background())
	require.NoError(t, err)
	assert.False(t, a.Equal(b), "round robin")
	assert.Equal(t, "openai", pool.Name())

	_, err = keypool.New("empty", nil)
	assert.ErrorIs(t, err, credential.ErrInvalid)
	_, err = keypool.New("bad", statics(keyOld), keypool.WithWeights(1, 2))
	assert.ErrorIs(t, err, credential.ErrInvalid)
}

func TestPoolKeySwitchDoesNotOpenBreaker(t *testing.T) {
	fs := newFaultServer(t, step{ByKey: map[string]int{keyOld: 429}, Header: map[string]string{"Retry-After": "1"}})
	clk := newClock()
	pool := poolOf(t, clk, statics(keyOld, keyNew))
	p := degrade.NewPolicy("openai", degrade.WithClock(clk), degrade.WithBreaker(0.5, 2, time.Minute))
	c := &http.Client{Transport: degrade.NewRoundTripper(keypool.NewTransport(nil, pool, nil), p)}
	for i := 0; i < 6; i++ {
		clk.Advance(time.Second) // the limited key is tried again every time
		resp, err := get(t, c, fs.URL)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
	}
	assert.Equal(t, degrade.Closed, p.Breaker().State(), "a limited key is not a dependency outage")
	assert.Greater(t, countKeys(fs.Keys())[keyOld], 1)
}
