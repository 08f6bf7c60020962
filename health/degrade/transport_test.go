package degrade_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
)

var _ http.RoundTripper = (*degrade.RoundTripper)(nil)

func client(clk credential.Clock, base http.RoundTripper, opts ...degrade.PolicyOption) (*http.Client, *degrade.Policy) {
	popts := append([]degrade.PolicyOption{degrade.WithClock(clk), degrade.WithLogger(quiet), degrade.WithoutBreaker()}, opts...)
	p := degrade.NewPolicy("api", popts...)
	return &http.Client{Transport: degrade.NewRoundTripper(base, p)}, p
}

func TestRoundTripperRetriesFaults(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		calls int
		wait  time.Duration
	}{
		{"429 burst with Retry-After", []step{
			{Status: 429, Header: map[string]string{"Retry-After": "2"}},
			{Status: 429, Header: map[string]string{"Retry-After": "3"}},
			{Status: 200},
		}, 3, 5 * time.Second},
		{"503 then ok", []step{{Status: 503}, {Status: 200}}, 2, 0},
		{"overloaded 529", []step{{Status: 529}, {Status: 529}, {Status: 200}}, 3, 0},
		{"connection reset", []step{{Reset: true}, {Status: 200}}, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFaultServer(t, tt.steps...)
			clk := newClock()
			c, _ := client(clk, nil, degrade.WithRand(func() float64 { return 0 }))
			var resp *http.Response
			var err error
			elapsed := async(clk, func() { resp, err = get(t, c, fs.URL) })
			require.NoError(t, err)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, tt.calls, fs.Calls())
			assert.Equal(t, tt.wait, elapsed)
		})
	}
}

func TestRoundTripperReturnsLastResponse(t *testing.T) {
	fs := newFaultServer(t, step{Status: 503, Body: `{"error":"overloaded"}`})
	clk := newClock()
	c, p := client(clk, nil, degrade.WithRand(func() float64 { return 0 }), degrade.WithMaxAttempts(3))
	var resp *http.Response
	var err error
	async(clk, func() {
		resp, err = c.Get(fs.URL)
	})
	require.NoError(t, err, "the SDK gets the last answer and builds its own error")
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, `{"error":"overloaded"}`, string(b))
	assert.Equal(t, 3, fs.Calls())
	assert.Equal(t, int64(3), p.Counts()[degrade.Retryable])

	// Permanent failures are not retried.
	fs.Script(step{Status: 400})
	resp, err = get(t, c, fs.URL)
	require.NoError(t, err)
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, 1, fs.Calls())
}

type onlyReader struct{ io.Reader }

func TestRoundTripperReplaysBody(t *testing.T) {
	const body = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name string
		make func() *http.Request
	}{
		{"GetBody", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "", strings.NewReader(body))
			return r
		}},
		{"no GetBody", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "", onlyReader{strings.NewReader(body)})
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFaultServer(t, step{Status: 503}, step{Reset: true}, step{Status: 200})
			clk := newClock()
			c, _ := client(clk, nil, degrade.WithRand(func() float64 { return 0 }))
			req := tt.make()
			req.URL, _ = req.URL.Parse(fs.URL)
			var resp *http.Response
			var err error
			async(clk, func() { resp, err = c.Do(req) })
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, []string{body, body, body}, fs.Bodies())
		})
	}
}

func TestRoundTripperSlowPastTimeout(t *testing.T) {
	fs := newFaultServer(t, step{Delay: 5 * time.Second})
	c, _ := client(credential.SystemClock, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fs.URL, nil)
	start := time.Now()
	_, err := c.Do(req)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, 1, fs.Calls())

	// A per-attempt timeout (http.Client.Timeout in front of the
	// RoundTripper is per request; here the base enforces it) is retried.
	fs.Script(step{Delay: 5 * time.Second}, step{Status: 200})
	clk := newClock()
	c2, _ := client(clk, perAttemptTimeout{50 * time.Millisecond}, degrade.WithRand(func() float64 { return 0 }))
	resp, err := get(t, c2, fs.URL)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, 2, fs.Calls())
}

// perAttemptTimeout bounds each attempt like a client-side timeout.
type perAttemptTimeout struct{ d time.Duration }

func (p perAttemptTimeout) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(r.Context(), p.d)
	resp, err := http.DefaultTransport.RoundTrip(r.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	body := resp.Body
	resp.Body = struct {
		io.Reader
		io.Closer
	}{body, closerFunc(func() error { cancel(); return body.Close() })}
	return resp, nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func TestRoundTripperOutsideCredentialTransport(t *testing.T) {
	// An operator rotated the key: the server accepts only the new one. The
	// credential transport refreshes and retries within one attempt; the
	// degrade transport outside retries the 503 with the current key.
	fs := newFaultServer(t, step{Status: 503}, step{Status: 200})
	fs.Valid.Store(ptr(keyNew))
	cred := newRotating("openai", keyOld, keyNew)
	clk := newClock()
	c, p := client(clk, &credential.Transport{Credential: cred}, degrade.WithRand(func() float64 { return 0 }))
	resp, err := get(t, c, fs.URL)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	keys := fs.Keys()
	require.Equal(t, 3, len(keys))
	assert.True(t, keys[0] == keyOld && keys[1] == keyNew && keys[2] == keyNew, "old key, then the new one twice")
	assert.NoError(t, p.Check(context.Background()))

	// Revoked for good: the 401 comes back, health says so.
	fs.Valid.Store(ptr("sk-proj-FAKE9999999999999999999999999999"))
	resp, err = get(t, c, fs.URL)
	require.NoError(t, err)
	assert.Equal(t, 401, resp.StatusCode)
	assert.ErrorIs(t, p.Check(context.Background()), degrade.ErrCredentialRejected)
}

func TestRoundTripperCircuitOpen(t *testing.T) {
	fs := newFaultServer(t, step{Status: 503})
	clk := newClock()
	p := degrade.NewPolicy("api", degrade.WithClock(clk), degrade.WithLogger(quiet), degrade.WithMaxAttempts(1),
		degrade.WithBreaker(0.5, 2, time.Minute))
	c := &http.Client{Transport: degrade.NewRoundTripper(nil, p)}
	for i := 0; i < 2; i++ {
		_, err := get(t, c, fs.URL)
		require.NoError(t, err)
	}
	_, err := get(t, c, fs.URL)
	assert.True(t, errors.Is(err, degrade.ErrCircuitOpen), "got %v", err)
	assert.Equal(t, 2, fs.Calls())
}

func ptr[T any](v T) *T { return &v }

func TestRoundTripperDoesNotRetryBadCertificate(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	c, p := client(newClock(), &http.Transport{}) // does not trust the test certificate
	_, err := c.Get(srv.URL)
	require.Error(t, err)
	assert.ErrorIs(t, err, degrade.ErrPermanent)
	assert.Equal(t, int64(1), p.Counts()[degrade.Permanent])
}
