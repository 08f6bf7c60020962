package bench

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/failsafe-go/failsafe-go/retrypolicy"

	"github.com/credkit/credkit/health/degrade"
)

type benchKey struct{}

//go:noinline
func benchCall(context.Context) (int, error) { return 42, nil }

// BenchmarkDegradeCall measures the success path of one call three ways, in
// one run: bare, under a degrade.Policy (retry + circuit breaker), and under
// failsafe-go's retry policy plus circuit breaker. The difference between
// the first two is what the policy costs a healthy service. The degrade
// calls run with context.Background(), as the failsafe-go one does, and
// once more with a new context for each call.
func BenchmarkDegradeCall(b *testing.B) {
	ctx := context.Background()
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := benchCall(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("credkit-degrade.Call", func(b *testing.B) {
		p := degrade.NewPolicy("llm", degrade.WithMaxAttempts(3), degrade.WithBreaker(0.5, 10, time.Minute))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := degrade.Call(ctx, p, benchCall); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("credkit-degrade.Do", func(b *testing.B) {
		p := degrade.NewPolicy("llm", degrade.WithMaxAttempts(3), degrade.WithBreaker(0.5, 10, time.Minute))
		fn := func(ctx context.Context) error { _, err := benchCall(ctx); return err }
		b.ReportAllocs()
		for b.Loop() {
			if err := p.Do(ctx, fn); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Each call with a context of its own, as each request of a server
	// brings: the call state that carries the call to the layers below is
	// reused only for the same parent context, so here it is allocated on
	// every call.
	b.Run("credkit-degrade.Do-ctx-per-call", func(b *testing.B) {
		p := degrade.NewPolicy("llm", degrade.WithMaxAttempts(3), degrade.WithBreaker(0.5, 10, time.Minute))
		fn := func(ctx context.Context) error { _, err := benchCall(ctx); return err }
		ctxs := make([]context.Context, 1024)
		for i := range ctxs {
			ctxs[i] = context.WithValue(ctx, benchKey{}, i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := p.Do(ctxs[i%len(ctxs)], fn); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("failsafe-go", func(b *testing.B) {
		// AbortOnErrors(circuitbreaker.ErrOpen): an open breaker fails
		// fast, as degrade's does, instead of being retried.
		rp := retrypolicy.NewBuilder[int]().WithMaxRetries(2).WithBackoff(200*time.Millisecond, 10*time.Second).
			AbortOnErrors(circuitbreaker.ErrOpen).Build()
		cb := circuitbreaker.NewBuilder[int]().WithFailureRateThreshold(0.5, 10, time.Minute).WithDelay(30 * time.Second).Build()
		ex := failsafe.With[int](rp, cb).WithContext(ctx)
		fn := func() (int, error) { return benchCall(ctx) }
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ex.Get(fn); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// okTransport answers every request at once with a new 200, so that the
// benchmark measures the RoundTrippers, not the network: the bare
// http.RoundTripper stub the others are measured against.
type okTransport struct{}

func (okTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// BenchmarkDegradeRoundTrip measures the success path at the transport, in
// one run: the bare inner transport, degrade.RoundTripper (retry + breaker)
// and failsafehttp's RoundTripper with a retry policy and a circuit breaker.
func BenchmarkDegradeRoundTrip(b *testing.B) {
	req, _ := http.NewRequest(http.MethodGet, "http://api.invalid/v1/models", nil)
	run := func(b *testing.B, rt http.RoundTripper) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := rt.RoundTrip(req)
			if err != nil || resp.StatusCode != 200 {
				b.Fatal("round trip failed")
			}
		}
	}
	b.Run("bare", func(b *testing.B) { run(b, okTransport{}) })
	b.Run("credkit-degrade.RoundTripper", func(b *testing.B) {
		p := degrade.NewPolicy("api", degrade.WithMaxAttempts(3), degrade.WithBreaker(0.5, 10, time.Minute))
		run(b, degrade.NewRoundTripper(okTransport{}, p))
	})
	b.Run("failsafe-go-failsafehttp", func(b *testing.B) {
		rp := failsafehttp.NewRetryPolicyBuilder().WithMaxRetries(2).WithBackoff(200*time.Millisecond, 10*time.Second).
			AbortOnErrors(circuitbreaker.ErrOpen).Build()
		cb := circuitbreaker.NewBuilder[*http.Response]().WithFailureRateThreshold(0.5, 10, time.Minute).WithDelay(30 * time.Second).Build()
		run(b, failsafehttp.NewRoundTripper(okTransport{}, rp, cb))
	})
}
