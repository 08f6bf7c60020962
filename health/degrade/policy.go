package degrade

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credkit/credkit/credential"
)

// Policy is the retry loop and the circuit breaker of one dependency ("openai",
// "embeddings", "qdrant"). One loop owns the attempts: set the SDK's own
// retries to zero (option.WithMaxRetries(0) in openai-go and
// anthropic-sdk-go) so that attempts do not multiply.
//
// For each call it:
//   - fails fast with [ErrCircuitOpen] while the breaker is open;
//   - retries Retryable failures with exponential backoff and full jitter,
//     at most [WithMaxAttempts] calls, within [WithMaxTotal], and never past
//     the caller's context deadline (a wait that would end after it is not
//     started: the call fails at once instead);
//   - honours the dependency's Retry-After up to [WithRetryAfterCeiling]; a
//     longer one fails at once with [ErrRateLimited];
//   - never retries Permanent ([ErrPermanent]) or Quota
//     ([ErrQuotaExhausted]) failures;
//   - on Rejected asks the [WithRefresher] credential to refresh, retries once
//     when the value changed, and otherwise fails with
//     [ErrCredentialRejected];
//   - returns context errors so that errors.Is(err, context.Canceled) holds.
//
// Every outcome feeds the policy's health: [Policy.Check] reports an open
// breaker, a rejected credential or an exhausted quota from live traffic,
// without synthetic probes.
//
// A Policy is safe for concurrent use.
type Policy struct {
	name string
	o    options
	br   *Breaker

	counts [6]atomic.Int64

	mu        sync.Mutex
	credClass Class // Success, Rejected or Quota: what live traffic says of the credential
	credSince time.Time
}

// NewPolicy returns the policy of the named dependency. It reads
// [WithClock], [WithLogger], [WithRand], [WithMaxAttempts] (4),
// [WithBackoff] (200 ms, 10 s), [WithMaxTotal] (2 min),
// [WithRetryAfterCeiling] (60 s), [WithClassifier] ([ClassifyError]),
// [WithRefresher] (none), [WithBreaker] (50 %, 10 calls, 1 min),
// [WithOpenFor] (30 s, 1 probe) and [WithoutBreaker].
func NewPolicy(dependency string, opts ...Option) *Policy {
	p := &Policy{name: dependency, o: build(opts)}
	if !p.o.noBreaker {
		p.br = newBreaker(dependency, &p.o)
	}
	return p
}

// Name returns the dependency's name.
func (p *Policy) Name() string { return p.name }

// Breaker returns the policy's circuit breaker, or nil with [WithoutBreaker].
func (p *Policy) Breaker() *Breaker { return p.br }

// Do calls fn under the policy and returns nil or the error described in
// [Policy]. fn receives the caller's context.
func (p *Policy) Do(ctx context.Context, fn func(context.Context) error) error {
	return p.run(ctx, func(ctx context.Context) (Outcome, error) {
		err := fn(ctx)
		if err == nil {
			return Outcome{}, nil
		}
		return p.o.classify(err), err
	})
}

// Call is [Policy.Do] for a function that returns a value.
func Call[T any](ctx context.Context, p *Policy, fn func(context.Context) (T, error)) (T, error) {
	var v T
	err := p.run(ctx, func(ctx context.Context) (Outcome, error) {
		r, err := fn(ctx)
		if err == nil {
			v = r
			return Outcome{}, nil
		}
		return p.o.classify(err), err
	})
	return v, err
}

// attemptFunc makes one attempt. When next is set on a failed outcome, the
// loop makes another attempt at once without counting it against the
// backoff (the key pool moved to another key).
type attemptFunc func(ctx context.Context) (Outcome, error)

// switchKey is an Outcome class the key pool returns to retry at once with
// another key; it is never seen outside this package.
const switchKey Class = -1

func (p *Policy) run(ctx context.Context, attempt attemptFunc) error {
	clock := p.o.clock
	var start time.Time
	var last error
	refreshed := false
	switches := 0
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return ctxError(err, last)
		}
		now := clock.Now()
		if n == 1 {
			start = now
		}
		probe := false
		if p.br != nil {
			var ok bool
			var until time.Time
			ok, until, probe = p.br.allow(now)
			if !ok {
				return &Error{Dependency: p.name, Kind: ErrCircuitOpen, Attempts: n - 1, RetryAfter: until.Sub(now), Err: last}
			}
		}
		out, err := attempt(ctx)
		if out.Class == Canceled && ctx.Err() == nil {
			// A per-attempt timeout, not the caller's context: transient.
			out.Class = Retryable
		}
		class := out.Class
		if class == switchKey {
			// One key of a pool was limited or rejected and another takes
			// over: not a failure of the dependency.
			class = Permanent
		}
		if p.br != nil {
			p.br.record(now, class, probe)
		}
		if out.Class != switchKey {
			p.observe(class, now)
		}
		switch out.Class {
		case Success:
			return nil
		case switchKey:
			last = err
			if switches++; switches <= 64 {
				n--
				continue
			}
		case Canceled:
			return ctxError(ctx.Err(), last)
		case Permanent:
			return &Error{Dependency: p.name, Kind: ErrPermanent, Attempts: n, Err: err}
		case Quota:
			return &Error{Dependency: p.name, Kind: ErrQuotaExhausted, Attempts: n, Err: err}
		case Rejected:
			if p.o.refresher != nil && !refreshed {
				refreshed = true
				changed, rerr := p.o.refresher.Refresh(ctx)
				if rerr == nil && changed {
					last = err
					continue
				}
			}
			return &Error{Dependency: p.name, Kind: ErrCredentialRejected, Attempts: n, Err: err}
		}
		last = err
		if n >= p.o.maxAttempts {
			return &Error{Dependency: p.name, Kind: ErrRetriesExhausted, Attempts: n, RetryAfter: out.RetryAfter, Err: err}
		}
		wait := p.backoff(n)
		if out.RetryAfter > 0 {
			if out.RetryAfter > p.o.retryAfterCeiling {
				return &Error{Dependency: p.name, Kind: ErrRateLimited, Attempts: n, RetryAfter: out.RetryAfter, Err: err}
			}
			wait = out.RetryAfter
		}
		now = clock.Now()
		wake := now.Add(wait)
		if p.o.maxTotal > 0 && wake.Sub(start) > p.o.maxTotal {
			return &Error{Dependency: p.name, Kind: ErrRetriesExhausted, Attempts: n, RetryAfter: out.RetryAfter, Err: err}
		}
		if dl, ok := ctx.Deadline(); ok && !wake.Before(dl) {
			kind := ErrRetriesExhausted
			if out.RetryAfter > 0 {
				kind = ErrRateLimited
			}
			return &Error{Dependency: p.name, Kind: kind, Attempts: n, RetryAfter: out.RetryAfter, Err: err}
		}
		if err := sleep(ctx, clock, wait); err != nil {
			return ctxError(err, last)
		}
	}
}

// backoff returns the full-jitter wait after attempt n.
func (p *Policy) backoff(n int) time.Duration {
	d := p.o.baseDelay
	for i := 1; i < n && d < p.o.maxDelay; i++ {
		d *= 2
	}
	d = min(d, p.o.maxDelay)
	return time.Duration(p.o.rand() * float64(d))
}

func sleep(ctx context.Context, clock credential.Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// ctxError returns the context error, keeping the last failure visible.
func ctxError(ctxErr, last error) error {
	if last == nil {
		return ctxErr
	}
	return fmt.Errorf("%w (last failure: %w)", ctxErr, last)
}

// observe feeds live traffic into the policy's health.
func (p *Policy) observe(c Class, now time.Time) {
	if c < 0 || int(c) >= len(p.counts) {
		return
	}
	p.counts[c].Add(1)
	var next Class
	switch c {
	case Success:
		next = Success
	case Rejected, Quota:
		next = c
	default:
		return
	}
	p.mu.Lock()
	prev := p.credClass
	if prev == next {
		p.mu.Unlock()
		return
	}
	p.credClass, p.credSince = next, now
	p.mu.Unlock()
	if next == Success {
		p.o.logger.Info("degrade: credential accepted again", "dependency", p.name)
	} else {
		p.o.logger.Error("degrade: credential failing", "dependency", p.name, "outcome", next.String())
	}
}

// Counts returns how many attempts ended in each class since the policy was
// made.
func (p *Policy) Counts() map[Class]int64 {
	m := make(map[Class]int64, len(p.counts))
	for i := range p.counts {
		if v := p.counts[i].Load(); v > 0 {
			m[Class(i)] = v
		}
	}
	return m
}

// Check is the dependency's health check, from live traffic: an error
// matching [ErrCircuitOpen] while the breaker is open, [ErrCredentialRejected]
// while the last credential outcome was a 401/403 that a refresh did not fix,
// [ErrQuotaExhausted] while it was a quota error; nil otherwise. A success
// clears the credential state.
func (p *Policy) Check(ctx context.Context) error {
	if p.br != nil {
		if err := p.br.Check(ctx); err != nil {
			return err
		}
	}
	p.mu.Lock()
	c := p.credClass
	p.mu.Unlock()
	switch c {
	case Rejected:
		return &Error{Dependency: p.name, Kind: ErrCredentialRejected}
	case Quota:
		return &Error{Dependency: p.name, Kind: ErrQuotaExhausted}
	}
	return nil
}

// Status is what live traffic says about a dependency, for a health
// endpoint or a dashboard: since when it has been in each state.
type Status struct {
	Dependency string
	// Breaker is the breaker's state (Closed with [WithoutBreaker]) and
	// BreakerSince when it entered it.
	Breaker      State
	BreakerSince time.Time
	// Credential is Success, Rejected or Quota: the last credential outcome
	// seen (Success until a failure is seen); CredentialSince when it became
	// so (zero if it never changed).
	Credential      Class
	CredentialSince time.Time
	// Counts is [Policy.Counts].
	Counts map[Class]int64
}

// Status returns the dependency's current status.
func (p *Policy) Status() Status {
	s := Status{Dependency: p.name, Counts: p.Counts()}
	if p.br != nil {
		s.Breaker = p.br.State()
		s.BreakerSince = p.br.Since()
	}
	p.mu.Lock()
	s.Credential, s.CredentialSince = p.credClass, p.credSince
	p.mu.Unlock()
	return s
}
