package health_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/internal/fakeclock"
)

// meterProvider counts what the audit exports, on top of the no-op API types.
type meterProvider struct {
	noop.MeterProvider
	uses atomic.Int64
}

func (p *meterProvider) Meter(string, ...metric.MeterOption) metric.Meter { return meter{p: p} }

type meter struct {
	noop.Meter
	p *meterProvider
}

func (m meter) Int64Counter(string, ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	return counterOf{p: m.p}, nil
}

type counterOf struct {
	noop.Int64Counter
	p *meterProvider
}

func (c counterOf) Add(_ context.Context, n int64, _ ...metric.AddOption) { c.p.uses.Add(n) }

func TestAuditRecordsEveryUse(t *testing.T) {
	var code atomic.Int32
	code.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(code.Load())) }))
	defer srv.Close()

	var logs bytes.Buffer
	mp := &meterProvider{}
	audit := health.NewAudit(slog.New(slog.NewJSONHandler(&logs, nil)), health.WithMeterProvider(mp))
	cred := credential.NewStatic("openai", credential.NewSecret(fakeKey), credential.Metadata{})
	client := &http.Client{Transport: &credential.Transport{Credential: cred, Observe: audit.Observe}}

	do := func(path string) {
		req, _ := http.NewRequestWithContext(health.WithSource(context.Background(), "workflow:ticket-summary"), "POST", srv.URL+path, strings.NewReader("{}"))
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	do("/v1/chat/completions?key=FAKEquery")
	code.Store(401)
	do("/v1/chat/completions")
	code.Store(429)
	do("/v1/embeddings")
	code.Store(503)
	do("/v1/embeddings")

	assert.Equal(t, health.Counts{Requests: 4, Denials: 1, RateLimited: 1, Errors: 1}, audit.Counts()["openai"])
	assert.EqualValues(t, 4, mp.uses.Load(), "uses are exported through the OpenTelemetry API")

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 4)
	var ev map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &ev))
	assert.Equal(t, "openai", ev["credential"])
	assert.Equal(t, cred.Metadata().Name, "openai")
	assert.Equal(t, credential.NewSecret(fakeKey).Fingerprint(), ev["fingerprint"])
	assert.Equal(t, strings.TrimPrefix(srv.URL, "http://"), ev["system"])
	assert.Equal(t, "POST /v1/chat/completions", ev["action"], "the action has no query")
	assert.Equal(t, "workflow:ticket-summary", ev["source"])
	assert.Equal(t, "ok", ev["outcome"])
	assert.NotContains(t, logs.String(), "FAKEquery")
	assert.False(t, strings.Contains(logs.String(), "FAKEhealth"), "the audit log never holds the key")
	assert.Contains(t, lines[1], `"outcome":"denied"`)
}

func use(name string, status int) credential.Use {
	req := httptest.NewRequest("POST", "https://api.example.com/v1/chat", nil)
	return credential.Use{Credential: name, Request: req, StatusCode: status}
}

func TestAuditAnomalies(t *testing.T) {
	clk := fakeclock.New(epoch)
	var logs lockedBuffer
	audit := health.NewAudit(slog.New(slog.NewTextHandler(&logs, nil)), health.WithAuditClock(clk), health.WithAggregation(0), health.WithAnomaly(time.Minute, 5, 50, 10))
	defer audit.Close()
	chk := audit.Check()

	// A steady baseline of 20 uses a minute for five minutes.
	for m := 0; m < 5; m++ {
		for i := 0; i < 20; i++ {
			audit.Observe(use("openai", 200))
		}
		clk.Advance(time.Minute)
	}
	assert.Equal(t, health.Pass, chk.Run(context.Background()).Status)

	// Runaway automation: 150 uses in the next minute.
	for i := 0; i < 150; i++ {
		audit.Observe(use("openai", 200))
	}
	r := chk.Run(context.Background())
	assert.Equal(t, health.Warn, r.Status)
	assert.Contains(t, r.Output, "openai: ")
	assert.Contains(t, r.Output, "over 5x the baseline")
	assert.Equal(t, 1, strings.Count(logs.String(), "usage anomaly"), "an anomaly is logged once")
	assert.Contains(t, logs.String(), "credential usage summary", "aggregation logs summaries, not each use")
	assert.NotContains(t, logs.String(), "credential used")

	// A burst of denials on another credential.
	for i := 0; i < 10; i++ {
		audit.Observe(use("pinecone", 403))
	}
	r = chk.Run(context.Background())
	assert.Contains(t, r.Output, "pinecone: 10 denials within 1m0s")

	// Ten quiet intervals later the check passes again.
	for m := 0; m < 11; m++ {
		clk.Advance(time.Minute)
	}
	assert.Equal(t, health.Pass, chk.Run(context.Background()).Status)
}

// lockedBuffer is a bytes.Buffer safe for the audit's flusher and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// summaryHandler sends the "count" of every usage summary it handles.
type summaryHandler struct{ counts chan int64 }

func (h summaryHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h summaryHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h summaryHandler) WithGroup(string) slog.Handler            { return h }
func (h summaryHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "credkit: credential usage summary" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "count" {
			h.counts <- a.Value.Int64()
		}
		return true
	})
	return nil
}

// Issue 11, item 15: aggregated summaries are written when their interval
// ends, also for a credential that is not used again, and on Close.
func TestAuditSummariesFlushForAQuietCredential(t *testing.T) {
	clk := fakeclock.New(epoch)
	counts := make(chan int64, 16)
	audit := health.NewAudit(slog.New(summaryHandler{counts}), health.WithAuditClock(clk), health.WithAggregation(time.Minute))
	for i := 0; i < 3; i++ {
		audit.Observe(use("quiet", 200))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.True(t, clk.WaitTimers(ctx, 1))
	clk.Advance(time.Minute)
	select {
	case n := <-counts:
		assert.EqualValues(t, 3, n, "the interval's uses are summarised when it ends")
	case <-ctx.Done():
		t.Fatal("no summary for a credential not used again")
	}
	audit.Observe(use("quiet", 200))
	audit.Observe(use("quiet", 200))
	require.NoError(t, audit.Close())
	select {
	case n := <-counts:
		assert.EqualValues(t, 2, n, "Close writes what is left")
	default:
		t.Fatal("Close wrote no summary for the open interval")
	}
	require.NoError(t, audit.Close(), "Close is idempotent")
}
