package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/internal/fakeclock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

const fakeKey = "sk-proj-FAKEhealthQzXvKwJqYzPxWvQkZjXyVqWzKx"

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func status(m *health.Monitor, name string) health.Status {
	r, _ := m.Result(name)
	return r.Status
}

func TestMonitorPendingTimeoutPanicAndChanges(t *testing.T) {
	clk := fakeclock.New(epoch)
	release := make(chan struct{})
	var flaky atomic.Int32
	m := health.NewMonitor([]health.Check{
		{Name: "slow", Critical: true, Interval: time.Minute, Timeout: 20 * time.Millisecond, Run: func(ctx context.Context) health.Result {
			<-ctx.Done()
			return health.Passed("too late")
		}},
		{Name: "blocked", Critical: true, Interval: time.Minute, Run: func(ctx context.Context) health.Result {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return health.Passed("ok")
		}},
		{Name: "panics", Interval: time.Minute, Run: func(context.Context) health.Result { panic("boom " + fakeKey) }},
		{Name: "flaky", Interval: time.Minute, Run: func(context.Context) health.Result {
			if flaky.Add(1) == 1 {
				return health.Failed("first run fails")
			}
			return health.Passed("recovered")
		}},
	}, health.WithClock(clk))
	defer m.Close()
	var mu sync.Mutex
	var changes []health.Change
	m.OnChange(func(c health.Change) { mu.Lock(); changes = append(changes, c); mu.Unlock() })

	assert.Equal(t, health.Pending, status(m, "blocked"), "checks start pending")
	assert.False(t, m.Ready(), "a pending critical check is not ready")

	eventually(t, "timeout reported", func() bool { return status(m, "slow") == health.Fail })
	r, _ := m.Result("slow")
	assert.Contains(t, r.Output, "timed out")
	eventually(t, "panic reported", func() bool { return status(m, "panics") == health.Fail })
	r, _ = m.Result("panics")
	assert.Equal(t, "check panicked", r.Output, "a panic's value is not reported")
	eventually(t, "flaky failed", func() bool { return status(m, "flaky") == health.Fail })

	close(release)
	eventually(t, "blocked passes", func() bool { return status(m, "blocked") == health.Pass })
	assert.False(t, m.Ready(), "slow still fails")
	assert.True(t, m.Ready("slow"), "excluding the failing check makes it ready")

	// The monitor lives on after a panic: the next interval runs everything.
	require.True(t, clk.WaitTimers(ctxT(t), 4))
	clk.Advance(time.Minute)
	eventually(t, "flaky recovered", func() bool { return status(m, "flaky") == health.Pass })
	mu.Lock()
	defer mu.Unlock()
	var sawRecovery bool
	for _, c := range changes {
		if c.Name == "flaky" && c.From == health.Fail && c.To == health.Pass {
			sawRecovery = true
		}
	}
	assert.True(t, sawRecovery, "listeners hear of changes")
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// counter is a fake backend that counts calls.
type counter struct{ calls atomic.Int64 }

func (c *counter) check(ok bool) func(context.Context) health.Result {
	return func(context.Context) health.Result {
		c.calls.Add(1)
		if !ok {
			return health.FromError(&credential.Error{Kind: credential.ErrUnavailable, Reason: "backend said " + fakeKey})
		}
		return health.Result{Status: health.Pass, Output: "ok", ObservedValue: 12, ObservedUnit: "ms"}
	}
}

func newHandlerFixture(t *testing.T, opts ...health.HandlerOption) (*health.Monitor, *health.Handler, *counter) {
	c := &counter{}
	m := health.NewMonitor([]health.Check{
		{Name: "openai:credential", Component: "openai", Measurement: "credential", Critical: true, Interval: time.Hour, Run: c.check(true)},
		{Name: "pinecone:responseTime", Component: "pinecone", Measurement: "responseTime", ComponentType: "datastore", Critical: true, Interval: time.Hour, Run: c.check(false)},
		{Name: "cache:responseTime", Component: "cache", Measurement: "responseTime", Interval: time.Hour, Run: c.check(false)},
	})
	t.Cleanup(func() { m.Close() })
	eventually(t, "first runs", func() bool { return c.calls.Load() == 3 })
	eventually(t, "results published", func() bool {
		for _, v := range m.Results() {
			if v.Result.Status == health.Pending {
				return false
			}
		}
		return true
	})
	return m, health.NewHandler(m, opts...), c
}

func get(h http.Handler, method, target, remote string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

const (
	loopback = "127.0.0.1:51000"
	remote   = "203.0.113.7:51000"
)

func TestHandlerEndpoints(t *testing.T) {
	_, h, _ := newHandlerFixture(t, health.WithToken("FAKE-health-token-0000"), health.WithServiceID("support-bot"))

	w := get(h, "GET", "/livez", remote)
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, "application/health+json", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.JSONEq(t, `{"status":"pass","serviceId":"support-bot"}`, w.Body.String())

	w = get(h, "GET", "/readyz", remote)
	assert.Equal(t, 503, w.Code, "a critical check fails")
	assert.JSONEq(t, `{"status":"fail","serviceId":"support-bot"}`, w.Body.String())

	w = get(h, "GET", "/readyz?exclude=pinecone:responseTime", remote)
	assert.Equal(t, 200, w.Code)
	assert.JSONEq(t, `{"status":"warn","serviceId":"support-bot"}`, w.Body.String(), "a failing non-critical check warns")

	w = get(h, "HEAD", "/readyz", remote)
	assert.Equal(t, 503, w.Code)
	assert.Empty(t, w.Body.String())

	w = get(h, "POST", "/readyz", remote)
	assert.Equal(t, 405, w.Code)
	assert.Equal(t, 404, get(h, "GET", "/nope", remote).Code)
	assert.Equal(t, 404, get(h, "GET", "/readyz/nope", loopback).Code)
}

func TestHandlerVerboseShapeAndRestriction(t *testing.T) {
	_, h, _ := newHandlerFixture(t, health.WithToken("FAKE-health-token-0000"), health.WithLoopbackTrust())

	bare := get(h, "GET", "/readyz?verbose", remote)
	assert.NotContains(t, bare.Body.String(), "checks", "remote callers without the token get the bare status")
	wrongToken := get(h, "GET", "/readyz?verbose", remote, "Authorization", "Bearer FAKE-health-token-0001")
	assert.NotContains(t, wrongToken.Body.String(), "checks")

	for name, w := range map[string]*httptest.ResponseRecorder{
		"loopback": get(h, "GET", "/readyz?verbose", loopback),
		"token":    get(h, "GET", "/readyz?verbose", remote, "Authorization", "Bearer FAKE-health-token-0000"),
	} {
		var body struct {
			Status string                              `json:"status"`
			Checks map[string][]map[string]interface{} `json:"checks"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), name)
		assert.Equal(t, "fail", body.Status)
		require.Len(t, body.Checks, 3, name)
		c := body.Checks["openai:credential"][0]
		// The fields of the IETF draft's example entries.
		assert.Equal(t, "openai", c["componentId"])
		assert.Equal(t, "component", c["componentType"])
		assert.Equal(t, "pass", c["status"])
		assert.Equal(t, float64(12), c["observedValue"])
		assert.Equal(t, "ms", c["observedUnit"])
		_, err := time.Parse(time.RFC3339Nano, c["time"].(string))
		assert.NoError(t, err)
		p := body.Checks["pinecone:responseTime"][0]
		assert.Equal(t, "datastore", p["componentType"])
		assert.Equal(t, "fail", p["status"])
		assert.Equal(t, "unavailable", p["output"], "outputs carry the error's kind, not its text")
		assert.False(t, strings.Contains(w.Body.String(), "FAKEhealth"), "%s: a secret reached the response", name)
	}

	one := get(h, "GET", "/readyz/openai:credential", loopback)
	assert.Equal(t, 200, one.Code)
	assert.Contains(t, one.Body.String(), `"openai:credential"`)
	assert.NotContains(t, one.Body.String(), "pinecone")
	assert.Equal(t, 503, get(h, "GET", "/readyz/pinecone:responseTime", remote).Code)
}

// Issue 11, item 5: behind a proxy or sidecar on the same host every caller
// is loopback, so loopback gets no detail and no inventory unless trusted
// explicitly; the token does.
func TestHandlerDoesNotTrustLoopbackByDefault(t *testing.T) {
	inv := health.WithInventory(func() any { return map[string]any{"credentials": []string{"openai"}} })
	_, h, _ := newHandlerFixture(t, health.WithToken("FAKE-health-token-0000"), inv)
	w := get(h, "GET", "/readyz?verbose", loopback)
	assert.Equal(t, 503, w.Code)
	assert.NotContains(t, w.Body.String(), "checks", "a loopback caller without the token gets the bare status")
	one := get(h, "GET", "/readyz/openai:credential", loopback)
	assert.NotContains(t, one.Body.String(), "checks")
	assert.Equal(t, 403, get(h, "GET", "/inventory", loopback).Code)
	assert.Equal(t, 403, get(h, "GET", "/inventory", "[::1]:51000").Code)
	assert.Equal(t, 200, get(h, "GET", "/inventory", loopback, "Authorization", "Bearer FAKE-health-token-0000").Code)
	assert.Contains(t, get(h, "GET", "/readyz?verbose", remote, "Authorization", "Bearer FAKE-health-token-0000").Body.String(), "checks")

	_, noToken, _ := newHandlerFixture(t, inv)
	assert.Equal(t, 403, get(noToken, "GET", "/inventory", loopback).Code, "no token and no loopback trust: nobody sees the inventory")
}

func TestHandlerInventoryRestricted(t *testing.T) {
	_, h, _ := newHandlerFixture(t, health.WithLoopbackTrust(), health.WithInventory(func() any { return map[string]any{"credentials": []string{"openai"}} }))
	assert.Equal(t, 403, get(h, "GET", "/inventory", remote).Code)
	w := get(h, "GET", "/inventory", loopback)
	assert.Equal(t, 200, w.Code)
	assert.JSONEq(t, `{"credentials":["openai"]}`, w.Body.String())
	_, noInv, _ := newHandlerFixture(t, health.WithLoopbackTrust())
	assert.Equal(t, 404, get(noInv, "GET", "/inventory", loopback).Code)
}

func TestSanitizerKeepsCarelessChecksClean(t *testing.T) {
	m := health.NewMonitor([]health.Check{{Name: "careless", Interval: time.Hour, Run: func(context.Context) health.Result {
		return health.Failed("auth failed for key " + fakeKey)
	}}}, health.WithSanitizer(func(s string) string { return strings.ReplaceAll(s, fakeKey, "[REDACTED]") }))
	defer m.Close()
	eventually(t, "ran", func() bool { return status(m, "careless") == health.Fail })
	w := get(health.NewHandler(m, health.WithLoopbackTrust()), "GET", "/readyz?verbose", loopback)
	assert.False(t, strings.Contains(w.Body.String(), "FAKEhealth"), "the sanitizer runs before results are stored")
	assert.Contains(t, w.Body.String(), "[REDACTED]")
}

// TestProbeStorm: 10,000 readiness probes cause no backend call.
func TestProbeStorm(t *testing.T) {
	_, h, c := newHandlerFixture(t)
	before := c.calls.Load()
	var wg sync.WaitGroup
	for g := 0; g < 10; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				get(h, "GET", "/readyz?verbose", loopback)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, before, c.calls.Load(), "serving results never runs a check")
}

func TestHTTPCheckClassifies(t *testing.T) {
	var code atomic.Int32
	slow := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-slow
		}
		w.WriteHeader(int(code.Load()))
		io.WriteString(w, `{"error":"echoing `+fakeKey+`"}`)
	}))
	defer srv.Close()
	defer close(slow)
	cases := []struct {
		code   int
		status health.Status
		output string
	}{
		{200, health.Pass, "ok"},
		{401, health.Fail, "credential rejected"},
		{403, health.Fail, "credential rejected"},
		{429, health.Warn, "rate limited"},
		{500, health.Fail, "unavailable"},
		{503, health.Fail, "unavailable"},
		{404, health.Fail, "client error"},
	}
	chk := health.HTTPCheck("openai", srv.URL+"/v1/models", srv.Client(), true)
	for _, tc := range cases {
		code.Store(int32(tc.code))
		r := chk.Run(context.Background())
		assert.Equal(t, tc.status, r.Status, "%d", tc.code)
		assert.Equal(t, tc.output, r.Output, "%d", tc.code)
		assert.False(t, strings.Contains(r.Output, "FAKEhealth"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	r := health.HTTPCheck("openai", srv.URL+"/slow", srv.Client(), true).Run(ctx)
	assert.Equal(t, health.Fail, r.Status)
	assert.Equal(t, "unavailable: timeout", r.Output)
	r = health.HTTPCheck("down", "http://127.0.0.1:1/", nil, true).Run(context.Background())
	assert.Equal(t, health.Fail, r.Status)
	assert.Equal(t, "unavailable", r.Output)
	revoked := credential.NewStatic("x", credential.Secret{}, credential.Metadata{})
	r = health.HTTPCheck("openai", srv.URL, &http.Client{Transport: &credential.Transport{Credential: revoked}}, true).Run(context.Background())
	assert.Equal(t, "credential not_found", r.Output, "a credential that cannot be had is told apart from an API outage")
	assert.Equal(t, health.Canceled, health.ClassifyHTTP(0, fmt.Errorf("x: %w", context.Canceled)))
	assert.Equal(t, health.Unavailable, health.ClassifyHTTP(0, errors.New("connection reset")))
}
