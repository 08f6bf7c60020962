package degrade_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
)

// The breaker opens after enough failures and fails fast; its state is a
// health check.
func ExampleBreaker() {
	policy := degrade.NewPolicy("vectors", degrade.WithMaxAttempts(1), degrade.WithBreaker(0.5, 3, time.Minute),
		degrade.WithOpenFor(30*time.Second, 1))
	ctx := context.Background()
	down := func(context.Context) error { return &degrade.StatusError{StatusCode: 503} }
	for i := 0; i < 3; i++ {
		_ = policy.Do(ctx, down)
	}
	fmt.Println(policy.Breaker().State())
	err := policy.Do(ctx, func(context.Context) error { return nil })
	fmt.Println(errors.Is(err, degrade.ErrCircuitOpen), errors.Is(err, credential.ErrUnavailable))
	fmt.Println(policy.Check(ctx) != nil)
	// Output:
	// open
	// true true
	// true
}

// The RoundTripper retries a rate-limited request after the server's
// Retry-After, replaying its body. It goes outside the credential
// transport, and the SDK's own retries are turned off
// (option.WithMaxRetries(0) in openai-go and anthropic-sdk-go).
func ExampleRoundTripper() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After-Ms", "10")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		fmt.Fprintf(w, "got %s", b)
	}))
	defer srv.Close()

	key := credential.NewStatic("openai", credential.NewSecret("sk-proj-FAKE0000000000000000000000000000"), credential.Metadata{})
	policy := degrade.NewPolicy("openai")
	client := &http.Client{Transport: degrade.NewRoundTripper(&credential.Transport{Credential: key}, policy)}

	resp, err := client.Post(srv.URL, "application/json", strings.NewReader(`{"model":"gpt-4o-mini"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(b), calls.Load())
	// Output:
	// 200 got {"model":"gpt-4o-mini"} 2
}

// A wrapper's policy around an SDK call whose *http.Client has a
// RoundTripper: the RoundTripper sees that it runs inside the wrapper's
// attempt and makes one attempt, so a dependency that stays down gets the
// outer policy's 3 attempts, not 3 × 4.
func ExamplePolicy_Do_stacked() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	transport := degrade.NewPolicy("openai-http", degrade.WithBackoff(time.Millisecond, time.Millisecond))
	client := &http.Client{Transport: degrade.NewRoundTripper(nil, transport)}
	wrapper := degrade.NewPolicy("summarise", degrade.WithMaxAttempts(3), degrade.WithBackoff(time.Millisecond, time.Millisecond))

	err := wrapper.Do(context.Background(), func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New("the SDK's error") // degrade classifies it from what the RoundTripper saw
		}
		return nil
	})
	fmt.Println(errors.Is(err, degrade.ErrRetriesExhausted), calls.Load())
	// Output:
	// true 3
}

// An error raised before anything was sent (anthropic-sdk-go without
// credentials) is permanent: no retry, and the breaker does not count it.
func ExampleClassifyError() {
	fmt.Println(degrade.ClassifyError(errors.New("no Anthropic credentials found")).Class)
	fmt.Println(degrade.ClassifyError(&degrade.StatusError{StatusCode: 529}).Class)
	fmt.Println(degrade.ClassifyError(fmt.Errorf("get key: %w", credential.ErrRevoked)).Class)
	// Output:
	// permanent
	// retryable
	// rejected
}

// OpenAI's and Anthropic's rate-limit headers say when a key's budget is
// spent, before it gets a 429.
func ExampleParseRateLimit() {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := http.Header{}
	h.Set("X-Ratelimit-Remaining-Requests", "0")
	h.Set("X-Ratelimit-Reset-Requests", "6s")
	h.Set("X-Ratelimit-Remaining-Tokens", "149000")
	h.Set("X-Ratelimit-Reset-Tokens", "400ms")
	rl := degrade.ParseRateLimit(h, now)
	fmt.Println(rl.Remaining, rl.Reset.Sub(now), rl.Exhausted(now))
	// Output:
	// 0 6s true
}

// A model provider every replica shares: its open breaker warns and does
// not decide readiness, so an overloaded provider does not take every
// replica out of the load balancer.
func ExamplePolicy_Checks() {
	policy := degrade.NewPolicy("openai", degrade.WithMaxAttempts(1), degrade.WithBreaker(0.5, 2, time.Minute))
	for i := 0; i < 2; i++ {
		_ = policy.Do(context.Background(), func(context.Context) error { return &degrade.StatusError{StatusCode: 529} })
	}
	for _, c := range policy.Checks(degrade.Shared) {
		r := c.Run(context.Background())
		fmt.Println(c.Name, "critical:", c.Critical, r.Status, r.Output)
	}
	// Output:
	// openai:circuit critical: false warn circuit open
	// openai:traffic critical: false warn circuit open
}
