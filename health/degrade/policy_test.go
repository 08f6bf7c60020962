package degrade_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
)

func TestClassifyResponse(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   degrade.Class
		after  time.Duration
	}{
		{"ok", 200, nil, "", degrade.Success, 0},
		{"rate limit seconds", 429, map[string]string{"Retry-After": "7"}, `{"error":{"code":"rate_limit_exceeded"}}`, degrade.Retryable, 7 * time.Second},
		{"rate limit http date", 429, map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, "", degrade.Retryable, 90 * time.Second},
		{"retry-after-ms wins", 429, map[string]string{"Retry-After": "7", "Retry-After-Ms": "1500"}, "", degrade.Retryable, 1500 * time.Millisecond},
		{"openai reset of the spent limit", 429, map[string]string{"X-Ratelimit-Remaining-Requests": "12", "X-Ratelimit-Reset-Requests": "1s",
			"X-Ratelimit-Remaining-Tokens": "0", "X-Ratelimit-Reset-Tokens": "6m0s"}, "", degrade.Retryable, 6 * time.Minute},
		{"anthropic reset of the spent limit", 429, map[string]string{"Anthropic-Ratelimit-Requests-Remaining": "0",
			"Anthropic-Ratelimit-Requests-Reset": now.Add(20 * time.Second).Format(time.RFC3339)}, "", degrade.Retryable, 20 * time.Second},
		// Regression: OpenAI sends its reset headers on every answer; a 503
		// must not wait for the daily request limit to reset.
		{"reset headers on a 503 are not a Retry-After", 503, map[string]string{"X-Ratelimit-Remaining-Requests": "0",
			"X-Ratelimit-Reset-Requests": "6h0m0s"}, "", degrade.Retryable, 0},
		{"insufficient quota", 429, nil, `{"error":{"type":"insufficient_quota","code":"insufficient_quota"}}`, degrade.Quota, 0},
		{"anthropic credit", 400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low"}}`, degrade.Permanent, 0},
		{"unauthorized", 401, nil, "", degrade.Rejected, 0},
		{"forbidden", 403, nil, "", degrade.Rejected, 0},
		{"not found", 404, nil, "", degrade.Permanent, 0},
		{"bad request", 400, nil, "", degrade.Permanent, 0},
		{"request timeout", 408, nil, "", degrade.Retryable, 0},
		{"conflict", 409, nil, "", degrade.Retryable, 0},
		{"unavailable", 503, nil, "", degrade.Retryable, 0},
		{"anthropic overloaded", 529, nil, "", degrade.Retryable, 0},
		{"x-should-retry false", 503, map[string]string{"X-Should-Retry": "false"}, "", degrade.Permanent, 0},
		{"x-should-retry true", 400, map[string]string{"X-Should-Retry": "true"}, "", degrade.Retryable, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			resp := &http.Response{StatusCode: tt.status, Header: h, Body: io.NopCloser(strings.NewReader(tt.body))}
			got := degrade.ClassifyResponse(resp, now)
			assert.Equal(t, tt.want, got.Class)
			assert.Equal(t, tt.after, got.RetryAfter)
			b, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.body, string(b), "the body must still be readable")
		})
	}
}

func TestClassifyError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want degrade.Class
	}{
		{"nil", nil, degrade.Success},
		{"canceled", context.Canceled, degrade.Canceled},
		{"deadline", context.DeadlineExceeded, degrade.Canceled},
		{"status 429", &degrade.StatusError{StatusCode: 429}, degrade.Retryable},
		{"status 401 wrapped", errors.Join(errors.New("sdk"), &degrade.StatusError{StatusCode: 401}), degrade.Rejected},
		{"quota body", &degrade.StatusError{StatusCode: 429, Body: "insufficient_quota"}, degrade.Quota},
		{"revoked", credential.NewError("get", credential.ErrRevoked, "", "", nil), degrade.Rejected},
		{"invalid", credential.ErrInvalid, degrade.Permanent},
		{"unavailable", credential.ErrUnavailable, degrade.Retryable},
		{"connection reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, degrade.Retryable},
		{"url error", &url.Error{Op: "Post", URL: "https://api.invalid", Err: io.ErrUnexpectedEOF}, degrade.Retryable},
		{"unexpected EOF", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), degrade.Retryable},
		// An error raised before anything was sent (anthropic-sdk-go's "no
		// Anthropic credentials found") would fail the same way again.
		{"raised before sending", errors.New("no Anthropic credentials found"), degrade.Permanent},
		{"sdk error 529", &sdkError{Status: 529}, degrade.Retryable},
		{"sdk error 401", fmt.Errorf("wrapped: %w", &sdkError{Status: 401}), degrade.Rejected},
		{"sdk error quota", &sdkError{Status: 429, Body: `{"error":{"code":"insufficient_quota"}}`}, degrade.Quota},
		{"sdk error without response", &sdkError{}, degrade.Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, degrade.ClassifyError(tt.err).Class)
		})
	}
}

// sdkError has the method set of openai-go v3's and anthropic-sdk-go v2's
// *Error (internal/bench runs the real ones).
type sdkError struct {
	Status int
	Header http.Header
	Body   string
}

func (e *sdkError) Error() string   { return "API error" }
func (e *sdkError) RawJSON() string { return e.Body }
func (e *sdkError) DumpResponse(body bool) []byte {
	if e.Status == 0 {
		var r *http.Response
		_ = r.StatusCode // panics like openai-go's with a nil Response
	}
	resp := &http.Response{StatusCode: e.Status, ProtoMajor: 1, ProtoMinor: 1, Header: e.Header, Body: http.NoBody}
	b, _ := httputil.DumpResponse(resp, false)
	return b
}

func TestClassifySDKErrorHeaders(t *testing.T) {
	err := &sdkError{Status: 429, Header: http.Header{"Retry-After": {"3"}}}
	assert.Equal(t, degrade.Outcome{Class: degrade.Retryable, RetryAfter: 3 * time.Second}, degrade.ClassifyError(err))
}

func TestParseRateLimit(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name      string
		header    map[string]string
		remaining int64
		reset     time.Duration
		exhausted bool
	}{
		{"none", nil, -1, 0, false},
		{"openai", map[string]string{"X-Ratelimit-Remaining-Requests": "59", "X-Ratelimit-Reset-Requests": "1s",
			"X-Ratelimit-Remaining-Tokens": "1200", "X-Ratelimit-Reset-Tokens": "20ms"}, 59, time.Second, false},
		{"openai spent", map[string]string{"X-Ratelimit-Remaining-Requests": "0", "X-Ratelimit-Reset-Requests": "6m0s",
			"X-Ratelimit-Remaining-Tokens": "1200", "X-Ratelimit-Reset-Tokens": "20ms"}, 0, 6 * time.Minute, true},
		{"anthropic spent", map[string]string{"Anthropic-Ratelimit-Input-Tokens-Remaining": "0",
			"Anthropic-Ratelimit-Input-Tokens-Reset": now.Add(30 * time.Second).Format(time.RFC3339),
			"Anthropic-Ratelimit-Requests-Remaining": "49"}, 0, 30 * time.Second, true},
		{"azure -1", map[string]string{"X-Ratelimit-Remaining-Requests": "-1", "X-Ms-Region": "East US"}, -1, 0, false},
		{"azure 0 is unknown", map[string]string{"X-Ratelimit-Remaining-Tokens": "0", "X-Ratelimit-Reset-Tokens": "1s",
			"Apim-Request-Id": "00000000-0000-0000-0000-000000000000"}, -1, 0, false},
		{"0 without a reset is unknown", map[string]string{"X-Ratelimit-Remaining-Tokens": "0"}, -1, 0, false},
		{"garbage", map[string]string{"X-Ratelimit-Remaining-Tokens": "many"}, -1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			rl := degrade.ParseRateLimit(h, now)
			assert.Equal(t, tt.remaining, rl.Remaining)
			if tt.reset > 0 {
				assert.Equal(t, now.Add(tt.reset), rl.Reset)
			}
			assert.Equal(t, tt.exhausted, rl.Exhausted(now))
		})
	}
}

// failing returns a function failing with errs in turn, then nil.
func failing(calls *int, errs ...error) func(context.Context) error {
	return func(context.Context) error {
		*calls++
		if *calls <= len(errs) {
			return errs[*calls-1]
		}
		return nil
	}
}

func TestRetryAttemptsAndTotalTimeBounded(t *testing.T) {
	clk := newClock()
	down := &degrade.StatusError{StatusCode: 503}
	p := degrade.NewPolicy("llm", degrade.WithClock(clk), degrade.WithLogger(quiet), degrade.WithoutBreaker(),
		degrade.WithRand(func() float64 { return 0.999999 }), degrade.WithBackoff(time.Second, 4*time.Second))
	calls := 0
	var err error
	elapsed := async(clk, func() { err = p.Do(context.Background(), failing(&calls, down, down, down, down, down)) })
	assert.Equal(t, 4, calls, "default max attempts")
	assert.ErrorIs(t, err, degrade.ErrRetriesExhausted)
	assert.ErrorIs(t, err, credential.ErrUnavailable)
	var de *degrade.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 4, de.Attempts)
	// Full jitter just under 1 s, 2 s, 4 s.
	assert.InDelta(t, float64(7*time.Second), float64(elapsed), float64(10*time.Millisecond))

	// The total budget stops the retries before the attempts run out.
	clk2 := newClock()
	p = degrade.NewPolicy("llm", degrade.WithClock(clk2), degrade.WithLogger(quiet), degrade.WithoutBreaker(),
		degrade.WithRand(func() float64 { return 0.999999 }), degrade.WithBackoff(time.Second, 4*time.Second),
		degrade.WithMaxAttempts(10), degrade.WithMaxTotal(5*time.Second))
	calls = 0
	elapsed = async(clk2, func() { err = p.Do(context.Background(), failing(&calls, down, down, down, down, down)) })
	assert.Equal(t, 3, calls, "a fourth attempt would start after 7 s")
	assert.ErrorIs(t, err, degrade.ErrRetriesExhausted)
	assert.LessOrEqual(t, elapsed, 5*time.Second)
}

func TestRetryJitterIsFull(t *testing.T) {
	clk := newClock()
	p := degrade.NewPolicy("llm", degrade.WithClock(clk), degrade.WithLogger(quiet), degrade.WithoutBreaker(),
		degrade.WithRand(func() float64 { return 0 }), degrade.WithBackoff(time.Second, 4*time.Second))
	calls := 0
	down := &degrade.StatusError{StatusCode: 500}
	elapsed := async(clk, func() { _ = p.Do(context.Background(), failing(&calls, down, down)) })
	assert.Equal(t, 3, calls)
	assert.Zero(t, elapsed, "a jitter of 0 waits nothing")
}

func TestRetryAfterHonouredUpToCeiling(t *testing.T) {
	clk := newClock()
	p := degrade.NewPolicy("llm", degrade.WithClock(clk), degrade.WithLogger(quiet), degrade.WithoutBreaker(),
		degrade.WithRand(func() float64 { return 0 }))
	limited := func(s string) error {
		return &degrade.StatusError{StatusCode: 429, Header: http.Header{"Retry-After": {s}}}
	}
	calls := 0
	var err error
	elapsed := async(clk, func() { err = p.Do(context.Background(), failing(&calls, limited("7"), limited("3"))) })
	require.NoError(t, err)
	assert.Equal(t, 3, calls)
	assert.Equal(t, 10*time.Second, elapsed, "waits exactly what the server asked")

	calls = 0
	elapsed = async(clk, func() { err = p.Do(context.Background(), failing(&calls, limited("3600"))) })
	assert.Equal(t, 1, calls, "an hour is past the 60 s ceiling: fail fast")
	assert.Zero(t, elapsed)
	assert.ErrorIs(t, err, degrade.ErrRateLimited)
	var de *degrade.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, time.Hour, de.RetryAfter)
}

func TestRetryNeverPastContextDeadline(t *testing.T) {
	clk := newClock()
	p := degrade.NewPolicy("llm", degrade.WithClock(clk), degrade.WithLogger(quiet), degrade.WithoutBreaker())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	calls := 0
	limited := &degrade.StatusError{StatusCode: 429, Header: http.Header{"Retry-After": {"30"}}}
	var err error
	elapsed := async(clk, func() { err = p.Do(ctx, failing(&calls, limited)) })
	assert.Equal(t, 1, calls)
	assert.Zero(t, elapsed, "a 30 s wait would end after the 5 s deadline: not started")
	assert.ErrorIs(t, err, degrade.ErrRateLimited)
}

func TestContextErrorsStayVisible(t *testing.T) {
	clk := newClock()
	p := degrade.NewPolicy("llm", degrade.WithClock(clk), degrade.WithLogger(quiet), degrade.WithoutBreaker())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- p.Do(ctx, func(context.Context) error { return &degrade.StatusError{StatusCode: 503} })
	}()
	require.True(t, clk.WaitTimers(context.Background(), 1), "the policy sleeps on the clock")
	cancel()
	err := <-done
	assert.ErrorIs(t, err, context.Canceled)
	var se *degrade.StatusError
	assert.ErrorAs(t, err, &se, "the last failure is kept")

	err = p.Do(ctx, func(context.Context) error { t.Fatal("called after cancel"); return nil })
	assert.True(t, errors.Is(err, context.Canceled))
}

func TestPermanentAndQuotaNotRetried(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"bad request", &degrade.StatusError{StatusCode: 400}, degrade.ErrPermanent},
		{"quota", &degrade.StatusError{StatusCode: 429, Body: `{"error":{"code":"insufficient_quota"}}`}, degrade.ErrQuotaExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			p := degrade.NewPolicy("llm", degrade.WithClock(clk), degrade.WithLogger(quiet))
			calls := 0
			err := p.Do(context.Background(), failing(&calls, tt.err, tt.err))
			assert.Equal(t, 1, calls)
			assert.ErrorIs(t, err, tt.want)
			if tt.want == degrade.ErrQuotaExhausted {
				assert.ErrorIs(t, p.Check(context.Background()), degrade.ErrQuotaExhausted, "health fails")
			}
		})
	}
}

func TestRejectedCredentialRefreshesOnce(t *testing.T) {
	rejected := &degrade.StatusError{StatusCode: 401}
	t.Run("rotated", func(t *testing.T) {
		cred := newRotating("openai", keyOld, keyNew)
		p := degrade.NewPolicy("llm", degrade.WithLogger(quiet), degrade.WithRefresher(cred))
		calls := 0
		require.NoError(t, p.Do(context.Background(), failing(&calls, rejected)))
		assert.Equal(t, 2, calls)
		assert.EqualValues(t, 1, cred.Refreshes.Load())
		assert.NoError(t, p.Check(context.Background()))
	})
	t.Run("revoked", func(t *testing.T) {
		cred := newRotating("openai", keyOld)
		p := degrade.NewPolicy("llm", degrade.WithLogger(quiet), degrade.WithRefresher(cred))
		calls := 0
		err := p.Do(context.Background(), failing(&calls, rejected, rejected, rejected))
		assert.Equal(t, 1, calls, "no retry when the value did not change")
		assert.ErrorIs(t, err, degrade.ErrCredentialRejected)
		assert.ErrorIs(t, err, credential.ErrPermission)
		assert.ErrorIs(t, p.Check(context.Background()), degrade.ErrCredentialRejected, "health learns from traffic")
		st := p.Status()
		assert.Equal(t, degrade.Rejected, st.Credential)
		assert.False(t, st.CredentialSince.IsZero())
		assert.Equal(t, int64(1), st.Counts[degrade.Rejected])
		assert.NoError(t, p.Do(context.Background(), func(context.Context) error { return nil }))
		assert.NoError(t, p.Check(context.Background()), "a success clears it")
	})
	t.Run("rotated but still rejected", func(t *testing.T) {
		cred := newRotating("openai", keyOld, keyNew, keyC)
		p := degrade.NewPolicy("llm", degrade.WithLogger(quiet), degrade.WithRefresher(cred))
		calls := 0
		err := p.Do(context.Background(), failing(&calls, rejected, rejected, rejected))
		assert.Equal(t, 2, calls, "retried once only")
		assert.ErrorIs(t, err, degrade.ErrCredentialRejected)
	})
}

func TestBreakerTransitions(t *testing.T) {
	clk := newClock()
	p := degrade.NewPolicy("vectors", degrade.WithClock(clk), degrade.WithLogger(quiet), degrade.WithMaxAttempts(1),
		degrade.WithBreaker(0.5, 4, time.Minute), degrade.WithOpenFor(10*time.Second, 2))
	br := p.Breaker()
	ctx := context.Background()
	down := func(context.Context) error { return &degrade.StatusError{StatusCode: 503} }
	up := func(context.Context) error { return nil }

	require.NoError(t, p.Do(ctx, up))
	require.NoError(t, p.Do(ctx, up))
	_ = p.Do(ctx, down)
	assert.Equal(t, degrade.Closed, br.State(), "3 calls are below the minimum volume")
	_ = p.Do(ctx, down)
	assert.Equal(t, degrade.Open, br.State(), "2 of 4 failed")
	assert.Equal(t, degrade.Open, p.Status().Breaker)
	assert.Equal(t, clk.Now(), p.Status().BreakerSince)
	assert.ErrorIs(t, p.Check(ctx), degrade.ErrCircuitOpen)

	called := false
	err := p.Do(ctx, func(context.Context) error { called = true; return nil })
	assert.False(t, called, "open fails fast")
	assert.ErrorIs(t, err, degrade.ErrCircuitOpen)
	assert.ErrorIs(t, err, credential.ErrUnavailable)

	clk.Advance(10 * time.Second)
	assert.Equal(t, degrade.HalfOpen, br.State())
	_ = p.Do(ctx, down)
	assert.Equal(t, degrade.Open, br.State(), "a failed probe opens it again")

	clk.Advance(10 * time.Second)
	require.NoError(t, p.Do(ctx, up))
	assert.Equal(t, degrade.HalfOpen, br.State(), "two probes must pass")
	require.NoError(t, p.Do(ctx, up))
	assert.Equal(t, degrade.Closed, br.State())
	assert.NoError(t, p.Check(ctx))

	// Failures older than the window are forgotten.
	_ = p.Do(ctx, down)
	_ = p.Do(ctx, down)
	_ = p.Do(ctx, down)
	clk.Advance(2 * time.Minute)
	_ = p.Do(ctx, down)
	assert.Equal(t, degrade.Closed, br.State())

	// A rejected credential or a bad request says nothing about the
	// dependency.
	for i := 0; i < 10; i++ {
		_ = p.Do(ctx, func(context.Context) error { return &degrade.StatusError{StatusCode: 400} })
	}
	assert.Equal(t, degrade.Closed, br.State())
}
