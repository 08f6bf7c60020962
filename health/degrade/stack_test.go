package degrade_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/fallback"
	"github.com/credkit/credkit/health/degrade/keypool"
	"github.com/credkit/credkit/health/degrade/queue"
)

// policyN is a policy of n attempts that does not wait between them.
func policyN(name string, n int, opts ...degrade.PolicyOption) *degrade.Policy {
	return degrade.NewPolicy(name, append([]degrade.PolicyOption{degrade.WithMaxAttempts(n),
		degrade.WithRand(func() float64 { return 0 }), degrade.WithoutBreaker()}, opts...)...)
}

// sdkGet behaves like an SDK method: it sends a request with the caller's
// context through c and turns an error status into an error carrying the
// response (the shape of openai-go's and anthropic-sdk-go's *Error).
func sdkGet(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		return &sdkError{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
	}
	return nil
}

// Every stacking the docs show makes at most the outermost policy's
// attempts against a dependency that always answers 503 (before the fix: 4
// × 4 = 16 calls for the first two).
func TestAttemptsNeverMultiply(t *testing.T) {
	ctx := context.Background()
	key := credential.NewStatic("openai", credential.NewSecret(keyOld), credential.Metadata{})
	tests := []struct {
		name string
		run  func(url string) error
		want int
	}{
		{"RoundTripper under a wrapper, same policy", func(url string) error {
			p := policyN("openai", 4)
			c := &http.Client{Transport: degrade.NewRoundTripper(&credential.Transport{Credential: key}, p)}
			return p.Do(ctx, func(ctx context.Context) error { return sdkGet(ctx, c, url) })
		}, 4},
		{"RoundTripper under a wrapper, two policies", func(url string) error {
			c := &http.Client{Transport: degrade.NewRoundTripper(&credential.Transport{Credential: key}, policyN("http", 4))}
			_, err := degrade.Call(ctx, policyN("chat", 3), func(ctx context.Context) (int, error) { return 0, sdkGet(ctx, c, url) })
			return err
		}, 3},
		{"two RoundTrippers", func(url string) error {
			inner := degrade.NewRoundTripper(nil, policyN("inner", 4))
			c := &http.Client{Transport: degrade.NewRoundTripper(inner, policyN("outer", 2))}
			return sdkGet(ctx, c, url)
		}, 2},
		{"two RoundTrippers through credential.Transport", func(url string) error {
			inner := degrade.NewRoundTripper(nil, policyN("inner", 4))
			c := &http.Client{Transport: degrade.NewRoundTripper(&credential.Transport{Credential: key, Base: inner}, policyN("outer", 4))}
			return sdkGet(ctx, c, url)
		}, 4},
		{"two RoundTrippers through a key pool", func(url string) error {
			pool, err := keypool.New("openai", statics(keyOld))
			require.NoError(t, err)
			inner := degrade.NewRoundTripper(nil, policyN("inner", 4))
			c := &http.Client{Transport: degrade.NewRoundTripper(keypool.NewTransport(inner, pool, nil), policyN("outer", 3))}
			return sdkGet(ctx, c, url)
		}, 3},
		{"wrapper calling a wrapper", func(url string) error {
			outer, inner := policyN("outer", 4), policyN("inner", 4)
			return outer.Do(ctx, func(ctx context.Context) error {
				return inner.Do(ctx, func(ctx context.Context) error { return sdkGet(ctx, http.DefaultClient, url) })
			})
		}, 4},
		{"fallback link with a policy over a RoundTripper", func(url string) error {
			c := &http.Client{Transport: degrade.NewRoundTripper(nil, policyN("http", 4))}
			chain, err := fallback.NewChain([]fallback.Link[string, int]{{Name: "primary", Policy: policyN("primary", 4),
				Call: func(ctx context.Context, u string) (int, error) { return 0, sdkGet(ctx, c, u) }}})
			require.NoError(t, err)
			_, err = chain.Do(ctx, url)
			return err
		}, 4},
		{"cache with a policy over a RoundTripper", func(url string) error {
			c := &http.Client{Transport: degrade.NewRoundTripper(nil, policyN("http", 4))}
			cache := fallback.NewCache(policyN("search", 2), func(ctx context.Context, u string) (int, error) { return 0, sdkGet(ctx, c, u) },
				func(u string) (string, bool) { return u, true })
			_, err := cache.Do(ctx, url)
			return err
		}, 2},
		{"queue item over a RoundTripper", func(url string) error {
			clk := newClock()
			c := &http.Client{Transport: degrade.NewRoundTripper(nil, policyN("http", 4))}
			q, err := queue.New(policyN("batch", 3), func(ctx context.Context, it queue.Item[string]) (int, error) {
				return 0, sdkGet(ctx, c, it.Value)
			}, nil, queue.WithClock(clk))
			require.NoError(t, err)
			defer q.Close()
			_, err = q.Submit(ctx, url)
			require.NoError(t, err)
			// The queue keeps the transiently failing item and waits for the
			// dependency after one run of its policy.
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			require.True(t, clk.WaitTimers(wctx, 1))
			return nil
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFaultServer(t, step{Status: 503})
			err := tt.run(fs.URL)
			var se *sdkError
			if err != nil && !errors.As(err, &se) {
				assert.ErrorIs(t, err, credential.ErrUnavailable)
			}
			assert.Equal(t, tt.want, fs.Calls(), "HTTP calls for one logical request")
		})
	}
}

// The same policy outside and inside counts each attempt once in its
// breaker and its counts.
func TestStackedSamePolicyCountsOnce(t *testing.T) {
	fs := newFaultServer(t, step{Status: 503}, step{Status: 503}, step{Status: 200})
	p := policyN("openai", 4)
	c := &http.Client{Transport: degrade.NewRoundTripper(nil, p)}
	require.NoError(t, p.Do(context.Background(), func(ctx context.Context) error { return sdkGet(ctx, c, fs.URL) }))
	assert.Equal(t, 3, fs.Calls())
	assert.Equal(t, map[degrade.Class]int64{degrade.Retryable: 2, degrade.Success: 1}, p.Counts())
}

// The RoundTripper inside a wrapper reports what it saw: the wrapper waits
// the Retry-After of the 429, which it never saw itself (the SDK's error is
// all it gets), and needs no code to classify it.
func TestInnerLayerReportsRetryAfter(t *testing.T) {
	fs := newFaultServer(t, step{Status: 429, Header: map[string]string{"Retry-After": "7"}}, step{Status: 200})
	clk := newClock()
	c := &http.Client{Transport: degrade.NewRoundTripper(nil, policyN("http", 4, degrade.WithClock(clk)))}
	p := policyN("chat", 4, degrade.WithClock(clk))
	plain := func(ctx context.Context) error {
		// An error type degrade knows nothing of.
		if err := sdkGet(ctx, c, fs.URL); err != nil {
			return errors.New("the model failed")
		}
		return nil
	}
	var err error
	elapsed := async(clk, func() { err = p.Do(context.Background(), plain) })
	require.NoError(t, err)
	assert.Equal(t, 7*time.Second, elapsed)
	assert.Equal(t, 2, fs.Calls())
}

// An error the SDK raises before sending anything is permanent: one call,
// no retry, nothing counted against the breaker.
func TestPreSendErrorIsPermanent(t *testing.T) {
	p := degrade.NewPolicy("anthropic", degrade.WithBreaker(0.5, 1, time.Minute))
	calls := 0
	for i := 0; i < 5; i++ {
		err := p.Do(context.Background(), func(context.Context) error {
			calls++
			return errors.New("no Anthropic credentials found")
		})
		assert.ErrorIs(t, err, degrade.ErrPermanent)
	}
	assert.Equal(t, 5, calls)
	assert.Equal(t, degrade.Closed, p.Breaker().State())
}
