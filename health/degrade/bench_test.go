package degrade_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/credkit/credkit/health/degrade"
)

//go:noinline
func okCall(context.Context) error { return nil }

// stub answers every request at once with a new 200: the bare
// http.RoundTripper the RoundTripper is measured against.
type stub struct{}

func (stub) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// contexts returns n distinct contexts, as n requests would bring.
func contexts(n int) []context.Context {
	ctxs := make([]context.Context, n)
	for i := range ctxs {
		ctxs[i] = context.WithValue(context.Background(), benchKey{}, i)
	}
	return ctxs
}

type benchKey struct{}

// The success path; internal/bench runs the same side by side with
// failsafe-go.
func BenchmarkSuccessPath(b *testing.B) {
	ctx := context.Background()
	b.Run("Policy.Do", func(b *testing.B) {
		p := degrade.NewPolicy("llm", degrade.WithBreaker(0.5, 10, time.Minute))
		b.ReportAllocs()
		for b.Loop() {
			if err := p.Do(ctx, okCall); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Each call with a context of its own (a request's): the call state
	// cannot be reused, and is allocated as before.
	b.Run("Policy.Do/ctx-per-call", func(b *testing.B) {
		p := degrade.NewPolicy("llm", degrade.WithBreaker(0.5, 10, time.Minute))
		ctxs := contexts(1024)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := p.Do(ctxs[i%len(ctxs)], okCall); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	// Goroutines sharing one context: a few idle call states are kept, so
	// calls overlapping in time reuse them too.
	b.Run("Policy.Do/parallel", func(b *testing.B) {
		p := degrade.NewPolicy("llm", degrade.WithBreaker(0.5, 10, time.Minute))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := p.Do(ctx, okCall); err != nil {
					b.Error(err) // not Fatal: this is not the benchmark's goroutine
					return
				}
			}
		})
	})
	req, _ := http.NewRequest(http.MethodGet, "http://api.invalid/v1/models", nil)
	rt := func(b *testing.B, t http.RoundTripper) {
		b.ReportAllocs()
		for b.Loop() {
			if resp, err := t.RoundTrip(req); err != nil || resp.StatusCode != 200 {
				b.Fatal("round trip failed")
			}
		}
	}
	b.Run("stub", func(b *testing.B) { rt(b, stub{}) })
	b.Run("RoundTripper", func(b *testing.B) {
		rt(b, degrade.NewRoundTripper(stub{}, degrade.NewPolicy("api", degrade.WithBreaker(0.5, 10, time.Minute))))
	})
}
