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
// For each logical call it:
//   - fails fast with [ErrCircuitOpen] while the breaker is open;
//   - retries Retryable failures with exponential backoff and full jitter,
//     at most [WithMaxAttempts] calls, within [WithMaxTotal], and never past
//     the caller's context deadline (a wait that would end after it is not
//     started: the call fails at once instead);
//   - honours the dependency's Retry-After up to [WithRetryAfterCeiling]; a
//     longer one fails at once with [ErrRateLimited];
//   - never retries Permanent ([ErrPermanent]) or Quota
//     ([ErrQuotaExhausted]) failures, nor an error raised before anything
//     was sent (an SDK's missing credentials, a bad option): those are
//     Permanent and never count against the breaker;
//   - on Rejected asks the [WithRefresher] credential to refresh, retries once
//     when the value changed, and otherwise fails with
//     [ErrCredentialRejected];
//   - returns context errors so that errors.Is(err, context.Canceled) holds.
//
// # Stacking
//
// Attempts never multiply, however layers stack. The context a policy hands
// its function carries the call; a [RoundTripper], [Policy.Do] or [Call]
// that finds it there makes exactly one attempt (its own breaker still
// guards it, and it still reports its outcome) and leaves the retrying to
// the outermost policy. So a wrapper calling an SDK whose *http.Client has a
// RoundTripper, a fallback chain whose links run their own policies, or
// two RoundTrippers stacked make at most the outermost policy's attempts.
//
// Every outcome feeds the policy's health: [Policy.Check] reports an open
// breaker, a rejected credential or an exhausted quota from live traffic,
// without synthetic probes.
//
// A Policy is safe for concurrent use.
type Policy struct {
	name string
	o    policyOptions
	br   *Breaker

	counts [6]atomic.Int64

	// spare is the state of a call, kept for a later call with the same
	// parent context (see callState).
	spare atomic.Pointer[callState]

	credClass atomic.Int32 // Class: Success, Rejected or Quota
	mu        sync.Mutex
	credSince time.Time

	// sys is set when the clock is the system clock: now then reads only
	// the monotonic clock (one vDSO call instead of two) from base, whose
	// wall time is baseNano.
	sys      bool
	base     time.Time
	baseNano int64
}

// now reads the policy's clock.
func (p *Policy) now() time.Time {
	if p.sys {
		return p.base.Add(time.Since(p.base))
	}
	return p.o.clock.Now()
}

// instant is one reading of the policy's clock: t in Unix nanoseconds, and
// the time.Time built from it only when a path needs one (the success path
// of a closed breaker on the system clock never does).
type instant struct {
	t     int64
	now   time.Time
	built bool
	// unread: the clock was not read (a first attempt in a fresh bucket);
	// timeOf reads it when a path needs the time after all.
	unread bool
}

// read reads the policy's clock (small enough to inline on the hot path).
func (p *Policy) read() instant {
	if p.sys {
		return instant{t: p.baseNano + int64(time.Since(p.base))}
	}
	return p.readClock()
}

// readClock reads a clock other than the system clock.
func (p *Policy) readClock() instant {
	now := p.o.clock.Now()
	return instant{t: now.UnixNano(), now: now, built: true}
}

// timeOf returns in as a time.Time.
func (p *Policy) timeOf(in *instant) time.Time {
	if in.unread {
		*in = p.read()
	}
	if !in.built {
		in.now, in.built = p.base.Add(time.Duration(in.t-p.baseNano)), true
	}
	return in.now
}

// NewPolicy returns the policy of the named dependency. Options and their
// defaults: [WithClock] (credential.SystemClock), [WithLogger] (nowhere),
// [WithRand] (math/rand/v2), [WithMaxAttempts] (4), [WithBackoff] (200 ms,
// 10 s), [WithMaxTotal] (2 min), [WithRetryAfterCeiling] (60 s),
// [WithClassifier] ([ClassifyError]), [WithRefresher] (none), [WithBreaker]
// (50 %, 10 calls, 1 min), [WithOpenFor] (30 s, 1 probe), [WithoutBreaker].
func NewPolicy(dependency string, opts ...PolicyOption) *Policy {
	p := &Policy{name: dependency, o: buildPolicy(opts)}
	if p.o.clock == credential.SystemClock {
		p.sys, p.base = true, time.Now()
		p.baseNano = p.base.UnixNano()
	}
	if !p.o.noBreaker {
		p.br = newBreaker(dependency, &p.o)
	}
	return p
}

// Name returns the dependency's name.
func (p *Policy) Name() string { return p.name }

// Breaker returns the policy's circuit breaker, or nil with [WithoutBreaker].
func (p *Policy) Breaker() *Breaker { return p.br }

// MaxDelay returns the policy's backoff cap ([WithBackoff]): how long a
// queue waits before trying again a dependency that gave no Retry-After.
func (p *Policy) MaxDelay() time.Duration { return p.o.maxDelay }

// Do calls fn under the policy and returns nil or the error described in
// [Policy]. fn receives a context derived from ctx that marks the call (see
// Stacking in [Policy]); pass it on to the SDK. It may be kept after Do
// returns (a streamed body keeps it) and answers for ctx as long as it
// lives. When ctx is the context of the policy's previous call
// (context.Background(), a worker's own), the success path allocates
// nothing; then a layer that a goroutine of yours starts with the kept
// context after the call has ended, while a later call with the same ctx
// runs, may have its failure taken by that call's next failed attempt
// (see the package README's Numbers).
func (p *Policy) Do(ctx context.Context, fn func(context.Context) error) error {
	return p.run(ctx, true, func(ctx context.Context) (Outcome, error) {
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
	err := p.run(ctx, true, func(ctx context.Context) (Outcome, error) {
		r, err := fn(ctx)
		if err == nil {
			v = r
			return Outcome{}, nil
		}
		return p.o.classify(err), err
	})
	return v, err
}

// attemptFunc makes one attempt.
type attemptFunc func(ctx context.Context) (Outcome, error)

// run makes the attempts of one logical call. mark says whether the
// attempts' context must carry the call for the layers below (always for
// Do and Call; for a RoundTripper only when another one sits below it).
func (p *Policy) run(ctx context.Context, mark bool, attempt attemptFunc) error {
	if st := stateOf(ctx); st != nil {
		return p.runInner(ctx, st, attempt)
	}
	var st *callState
	var seq uint64
	actx := ctx
	if mark {
		var kept bool
		st, seq, kept = p.claim(ctx)
		if kept {
			defer st.release() // also when fn panics: the spare stays usable
		}
		actx = st
	}
	clock := p.o.clock
	var start int64 // Unix nanoseconds of the first attempt
	var last error
	refreshed := false
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return ctxError(err, last)
		}
		var in instant
		// fast: the first attempt, with the breaker closed and its current
		// bucket known to hold the present (Breaker.fresh): no clock read.
		// freshIdx and freshStart are that bucket's index and start.
		fast := false
		var freshIdx int32
		var freshStart int64
		if p.sys {
			if br := p.br; n == 1 && br != nil && br.fresh.Load() && State(br.state.Load()) == Closed {
				freshIdx = br.cur.Load()
				freshStart = br.b[freshIdx].start.Load()
				fast, in.unread = true, true
			} else { // inline: the clock read of any other attempt
				in.t = p.baseNano + int64(time.Since(p.base))
			}
		} else {
			in = p.readClock()
		}
		if n == 1 {
			start = in.t
		}
		probe := false
		if p.br != nil && State(p.br.state.Load()) != Closed {
			now := p.timeOf(&in)
			var ok bool
			var until time.Time
			ok, until, probe = p.br.allow(now)
			if !ok {
				return &Error{Dependency: p.name, Kind: ErrCircuitOpen, Attempts: n - 1, RetryAfter: until.Sub(now), Err: last}
			}
			fast = false // the state moved: the clock was read above
		}
		out, err := attempt(actx)
		if err != nil && st != nil && out.Class != Canceled {
			// A layer below saw the response: its verdict is better informed
			// than the error the SDK made of it.
			if inner, ok := st.take(seq); ok {
				out = inner
			}
		}
		if out.Class == Canceled && ctx.Err() == nil {
			// A per-attempt timeout, not the caller's context: transient.
			out.Class = Retryable
		}
		counted := false
		switch {
		case fast && out.Class == Success:
			// Counted in the bucket that held the present when the attempt
			// began, as a success read at that time would be.
			p.br.b[freshIdx].successes.Add(1)
			counted = true
		case fast:
			// A failure: the clock is read now. The retry budget starts at
			// the bucket's start, at most one bucket width before the
			// attempt did: never later.
			in = instant{t: p.baseNano + int64(time.Since(p.base))}
			start = freshStart
			counted = p.br.record(p.timeOf(&in), out.Class, probe)
		case p.br != nil:
			if out.Class == Success && !probe && p.br.succeeded(in.t) {
				counted = true
			} else {
				counted = p.br.record(p.timeOf(&in), out.Class, probe)
			}
			if p.sys && !p.br.fresh.Load() {
				p.freshen()
			}
		}
		p.observe(out.Class, &in, counted)
		switch out.Class {
		case Success:
			return nil
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
		now := p.now()
		wake := now.Add(wait)
		if p.o.maxTotal > 0 && time.Duration(now.UnixNano()-start)+wait > p.o.maxTotal {
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

// runInner makes the one attempt of a layer that runs inside another
// policy's attempt. Its own breaker guards the attempt (unless it is the
// same policy, which already does), and its outcome is reported to the
// outer policy.
func (p *Policy) runInner(ctx context.Context, st *callState, attempt attemptFunc) error {
	own := st.policy != p
	seq := st.seq() // the call this attempt belongs to
	in := p.read()
	now := p.timeOf(&in)
	probe := false
	if own && p.br != nil {
		ok, until, pr := p.br.allow(now)
		if !ok {
			st.report(seq, Outcome{Class: Retryable, RetryAfter: until.Sub(now)})
			return &Error{Dependency: p.name, Kind: ErrCircuitOpen, RetryAfter: until.Sub(now)}
		}
		probe = pr
	}
	out, err := attempt(ctx)
	if err != nil && out.Class != Canceled {
		if inner, ok := st.take(seq); ok {
			out = inner
		}
	}
	if out.Class == Canceled && ctx.Err() == nil {
		out.Class = Retryable
	}
	if own {
		counted := false
		if p.br != nil {
			counted = p.br.record(now, out.Class, probe)
		}
		p.observe(out.Class, &in, counted)
	}
	var kind error
	switch out.Class {
	case Success:
		return nil
	case Canceled:
		return ctx.Err()
	case Permanent:
		kind = ErrPermanent
	case Quota:
		kind = ErrQuotaExhausted
	case Rejected:
		kind = ErrCredentialRejected
		if own && p.o.refresher != nil {
			if changed, rerr := p.o.refresher.Refresh(ctx); rerr == nil && changed {
				// The next attempt of the outer policy goes out with the new
				// value.
				out.Class = Retryable
				kind = ErrRetriesExhausted
			}
		}
	default:
		kind = ErrRetriesExhausted
	}
	st.report(seq, out)
	return &Error{Dependency: p.name, Kind: kind, Attempts: 1, RetryAfter: out.RetryAfter, Err: err}
}

// freshen marks the breaker's current bucket fresh when it holds the
// present, and arms the timer that clears the mark when the bucket ends
// (system clock only): the next first attempts count their success there
// without reading the clock. A late timer only delays a success's move to
// the next bucket by its lateness.
func (p *Policy) freshen() {
	br := p.br
	now := p.baseNano + int64(time.Since(p.base))
	br.mu.Lock()
	defer br.mu.Unlock()
	if br.fresh.Load() || State(br.state.Load()) != Closed {
		return
	}
	s := br.b[br.cur.Load()].start.Load()
	if s == 0 || now < s || now-s >= br.width {
		return // no bucket holds the present yet: the next record makes one
	}
	br.fresh.Store(true)
	d := time.Duration(s + br.width - now)
	if br.stale == nil {
		br.stale = time.AfterFunc(d, br.expire)
	} else {
		br.stale.Reset(d)
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
// counted says the breaker counted the success already (Counts adds the
// breaker's count: one atomic add on the success path instead of two).
func (p *Policy) observe(c Class, in *instant, counted bool) {
	if c < 0 || int(c) >= len(p.counts) {
		return
	}
	if !counted {
		p.counts[c].Add(1)
	}
	if (c == Success || c == Rejected || c == Quota) && Class(p.credClass.Load()) != c {
		p.credChanged(c, in)
	}
}

// credChanged records a change of the credential's outcome.
func (p *Policy) credChanged(c Class, in *instant) {
	p.mu.Lock()
	if Class(p.credClass.Load()) == c {
		p.mu.Unlock()
		return
	}
	p.credClass.Store(int32(c))
	p.credSince = p.timeOf(in)
	p.mu.Unlock()
	if c == Success {
		p.o.logger.Info("degrade: credential accepted again", "dependency", p.name)
	} else {
		p.o.logger.Error("degrade: credential failing", "dependency", p.name, "outcome", c.String())
	}
}

// Counts returns how many attempts ended in each class since the policy was
// made.
func (p *Policy) Counts() map[Class]int64 {
	m := make(map[Class]int64, len(p.counts))
	for i := range p.counts {
		v := p.counts[i].Load()
		if Class(i) == Success && p.br != nil {
			v += p.br.successes()
		}
		if v > 0 {
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
	switch Class(p.credClass.Load()) {
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
	s.Credential, s.CredentialSince = Class(p.credClass.Load()), p.credSince
	p.mu.Unlock()
	return s
}
