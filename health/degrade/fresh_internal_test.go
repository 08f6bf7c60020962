package degrade

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestFreshBucketCountsSuccesses: on the system clock, once a call has
// made the breaker's current bucket known to hold the present, first
// attempts count their success there without reading the clock — every
// success is counted, and the breaker still sees them when failures come.
func TestFreshBucketCountsSuccesses(t *testing.T) {
	p := NewPolicy("llm", WithMaxAttempts(1), WithBreaker(0.5, 10, time.Minute))
	ok := func(context.Context) error { return nil }
	if err := p.Do(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	if !p.br.fresh.Load() {
		t.Fatal("after a success on the system clock the current bucket is not marked fresh")
	}
	for i := 0; i < 99; i++ {
		if err := p.Do(context.Background(), ok); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.Counts()[Success]; got != 100 {
		t.Fatalf("Counts()[Success] = %d, want 100", got)
	}
	// 100 successes in the window: 99 failures keep the rate under 50 %,
	// the 100th reaches it and opens the breaker.
	fail := func(context.Context) error { return &StatusError{StatusCode: http.StatusServiceUnavailable} }
	for i := 0; i < 99; i++ {
		_ = p.Do(context.Background(), fail)
	}
	if s := p.Breaker().State(); s != Closed {
		t.Fatalf("after 100 successes and 99 failures the breaker is %v, want closed", s)
	}
	_ = p.Do(context.Background(), fail)
	if s := p.Breaker().State(); s != Open {
		t.Fatalf("after 100 successes and 100 failures the breaker is %v, want open", s)
	}
	if p.br.fresh.Load() {
		t.Fatal("an open breaker's bucket is still marked fresh")
	}
}

// TestFreshBucketExpires: the mark is cleared when the bucket ends (the
// timer's event, waited on), and the next call marks the new bucket.
func TestFreshBucketExpires(t *testing.T) {
	p := NewPolicy("llm", WithMaxAttempts(1), WithBreaker(0.5, 10, 100*time.Millisecond))
	expired := make(chan struct{}, 16)
	p.br.onExpire = func() { expired <- struct{}{} }
	ok := func(context.Context) error { return nil }
	for round := 0; round < 3; round++ {
		if err := p.Do(context.Background(), ok); err != nil {
			t.Fatal(err)
		}
		if !p.br.fresh.Load() {
			continue // the bucket ended between the call and the check
		}
		select {
		case <-expired:
		case <-time.After(5 * time.Second):
			t.Fatal("the fresh mark of a 10 ms bucket was not cleared")
		}
		if p.br.fresh.Load() {
			t.Fatal("the mark is still set after its bucket ended")
		}
	}
	if got := p.Counts()[Success]; got != 3 {
		t.Fatalf("Counts()[Success] = %d, want 3", got)
	}
}

// TestFreshPathRecordsTimes: a call on the fast path that changes the
// credential's state records when it did (the clock is read then), not the
// zero time.
func TestFreshPathRecordsTimes(t *testing.T) {
	p := NewPolicy("llm", WithMaxAttempts(1), WithBreaker(0.5, 10, time.Minute))
	ok := func(context.Context) error { return nil }
	reject := func(context.Context) error { return &StatusError{StatusCode: http.StatusUnauthorized} }
	_ = p.Do(context.Background(), ok)
	_ = p.Do(context.Background(), reject)
	_ = p.Do(context.Background(), ok) // fresh again after the 401? either path must record the time
	st := p.Status()
	if st.Credential != Success {
		t.Fatalf("credential state %v, want success", st.Credential)
	}
	if d := time.Since(st.CredentialSince); d < 0 || d > time.Minute {
		t.Fatalf("CredentialSince is %v ago, want now", d)
	}
}
