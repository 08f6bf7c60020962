package rotate

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credkit/credkit/credential"
)

// Credential is a credential kept current from its backend: the type
// [Watch] returns and a [Set] holds. It implements [credential.Credential]
// and [credential.Refresher], so it plugs into credential.Transport.
//
// Get is lock-free and allocation-free: it loads an atomic pointer to an
// immutable snapshot. A background goroutine polls (with jitter), listens
// for pushes, refreshes ahead of expiry and backs off on failure; it swaps
// the pointer on rotation. All methods are safe for concurrent use.
type Credential struct {
	name string
	p    credential.Provider
	ref  string
	o    options

	snap      atomic.Pointer[snapshot]
	ready     chan struct{} // closed once the first value is in
	readyOnce sync.Once

	checkMu sync.Mutex // serializes checks

	mu         sync.Mutex // guards the fields below
	md         credential.Metadata
	st         state
	flight     *call
	lastForced time.Time
	onChange   func() // set by a Set: values changed

	subs listeners[sub]

	kick     chan struct{}
	closed   chan struct{}
	done     chan struct{}
	closing  sync.Once
	stopPush func()
	rnd      *rand.Rand
}

// snapshot is what Get reads. It is never modified after it is stored.
type snapshot struct {
	// plain is set when cur can be served without any further check: a
	// value, no expiry, not revoked. Get then does one load and one test.
	plain     bool
	cur       credential.Version
	prev      credential.Version
	prevUntil time.Time
	expired   bool
	revoked   bool
	reason    string
}

// state is the bookkeeping behind Status, guarded by Credential.mu.
type state struct {
	fetched      time.Time
	lastSuccess  time.Time
	lastAttempt  time.Time
	lastErr      error
	failures     int
	total        int64
	failingSince time.Time
	nextRefresh  time.Time
	rotations    int
	lastRotated  time.Time
	closed       bool
}

// store publishes s, computing its fast-path flag.
func (c *Credential) store(s *snapshot) {
	s.plain = !s.revoked && !s.expired && !s.cur.Secret.IsZero() && s.cur.Expires.IsZero()
	c.snap.Store(s)
}

// sub is a subscriber: OnRotate's see rotations only.
type sub struct {
	f   func(Event)
	all bool
}

// call is one shared Refresh.
type call struct {
	done    chan struct{}
	changed bool
	err     error
}

var (
	_ credential.Credential = (*Credential)(nil)
	_ credential.Refresher  = (*Credential)(nil)
)

// Watch starts keeping the credential name, served by p at ref, current.
// The first fetch happens before Watch returns and its error is returned
// (fail fast), unless [WithPending] is given.
//
// Defaults: poll every minute ±10%, push when the backend is a
// credential.Notifier, the backend's cheap check (credential.VersionChecker)
// before a fetch, backoff 1 s doubling to 5 minutes with full jitter,
// refresh ahead at 80% of a version's lifetime or a minute before it
// expires, a 10-minute overlap for the previous version, Refresh at most
// every 5 s. Close stops it.
func Watch(ctx context.Context, name string, p credential.Provider, ref string, opts ...Option) (*Credential, error) {
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	return watch(ctx, name, p, ref, o)
}

func watch(ctx context.Context, name string, p credential.Provider, ref string, o options) (*Credential, error) {
	md := o.md
	md.Name = name
	c := &Credential{
		name: name, p: p, ref: ref, o: o, md: md,
		ready:  make(chan struct{}),
		kick:   make(chan struct{}, 1),
		closed: make(chan struct{}),
		done:   make(chan struct{}),
		rnd:    rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	c.snap.Store(&snapshot{})
	if !o.pending {
		if _, err := c.check(ctx, false); err != nil {
			return nil, err
		}
	}
	if n, ok := p.(credential.Notifier); ok && o.push {
		stop, err := n.NotifyChange(ref, c.poke)
		if err != nil {
			o.logger.Warn("credkit: push notification unavailable; polling only", "credential", name, "error_kind", credential.KindName(err))
		} else {
			c.stopPush = stop
		}
	}
	go c.loop()
	return c, nil
}

// Name returns the credential's name.
func (c *Credential) Name() string { return c.name }

// Metadata returns the credential's metadata.
func (c *Credential) Metadata() credential.Metadata {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.md
}

// Get returns the current value. It does no I/O and no allocation. It
// returns an error wrapping [credential.ErrRevoked] after a Revoke,
// [credential.ErrExpired] once the current version has expired (and no
// fresh one could be fetched), and [credential.ErrClosed] after Close. A
// credential started [WithPending] waits for its first value until ctx
// ends.
func (c *Credential) Get(ctx context.Context) (credential.Secret, error) {
	s := c.snap.Load()
	if s.plain {
		return s.cur.Secret, nil
	}
	return c.slowGet(ctx, s)
}

func (c *Credential) slowGet(ctx context.Context, s *snapshot) (credential.Secret, error) {
	switch {
	case s.revoked:
		return credential.Secret{}, &credential.Error{Op: "get", Name: c.name, Kind: credential.ErrRevoked, Reason: "revoked: " + s.reason}
	case s.expired || (!s.cur.Secret.IsZero() && s.cur.Expired(c.o.clock.Now())):
		return credential.Secret{}, &credential.Error{Op: "get", Name: c.name, Kind: credential.ErrExpired, Reason: "the current version has expired and no new one could be fetched"}
	case !s.cur.Secret.IsZero():
		return s.cur.Secret, nil
	}
	select {
	case <-c.closed:
		return credential.Secret{}, &credential.Error{Op: "get", Name: c.name, Kind: credential.ErrClosed}
	default:
	}
	select {
	case <-c.ready:
		return c.Get(ctx)
	case <-c.closed:
		return credential.Secret{}, &credential.Error{Op: "get", Name: c.name, Kind: credential.ErrClosed}
	case <-ctx.Done():
		return credential.Secret{}, ctx.Err()
	}
}

// Version returns the current version (value, ID, dates), and false while
// no value has been loaded.
func (c *Credential) Version() (credential.Version, bool) {
	s := c.snap.Load()
	return s.cur, !s.cur.Secret.IsZero()
}

// Previous returns the version replaced by the last rotation while it is in
// its overlap window, for dual-key hand-over; false otherwise.
func (c *Credential) Previous() (credential.Version, bool) {
	s := c.snap.Load()
	if s.prev.Secret.IsZero() || !c.o.clock.Now().Before(s.prevUntil) {
		return credential.Version{}, false
	}
	return s.prev, true
}

// OnRotate registers f, called after each rotation with an [Event] that
// carries fingerprints and version IDs, never values. f runs on the
// credential's refresh goroutine, after the subscribers registered before
// it: keep it short. The returned function unregisters f; f may call it.
func (c *Credential) OnRotate(f func(Event)) (unsubscribe func()) {
	return c.subscribe(f, false)
}

// subscribe registers f for rotations, or for every event when all is set.
func (c *Credential) subscribe(f func(Event), all bool) func() {
	return c.subs.add(sub{f, all})
}

// Refresh fetches now, and reports whether the value changed. Concurrent
// callers share one fetch; a call within the minimum refresh interval of the
// last forced fetch returns (false, nil) without I/O, so a revoked key
// answered 401 by every request does not hammer the backend.
// credential.Transport calls it on a 401.
func (c *Credential) Refresh(ctx context.Context) (bool, error) {
	c.mu.Lock()
	if c.st.closed {
		c.mu.Unlock()
		return false, &credential.Error{Op: "refresh", Name: c.name, Kind: credential.ErrClosed}
	}
	f := c.flight
	if f == nil {
		now := c.o.clock.Now()
		if !c.lastForced.IsZero() && now.Sub(c.lastForced) < c.o.minRefresh {
			c.mu.Unlock()
			return false, nil
		}
		c.lastForced = now
		f = &call{done: make(chan struct{})}
		c.flight = f
		go func() {
			// Detached from the first caller's context: other callers share
			// this fetch and must not be canceled by it.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.o.fetchTimeout)
			f.changed, f.err = c.check(fctx, true)
			cancel()
			c.mu.Lock()
			c.flight = nil
			c.mu.Unlock()
			close(f.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.changed, f.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Revoke makes Get fail with [credential.ErrRevoked] at once, until
// Restore: the kill switch for a leaked key. reason is shown in errors,
// status and inventory: it must not hold a value.
func (c *Credential) Revoke(reason string) {
	c.checkMu.Lock()
	defer c.checkMu.Unlock()
	s := *c.snap.Load()
	s.revoked, s.reason = true, reason
	c.store(&s)
	c.emit(Event{Kind: EventRevoked, Name: c.name, Time: c.o.clock.Now(), Reason: reason, NewFingerprint: s.cur.Secret.Fingerprint(), NewVersion: s.cur.ID})
	c.o.logger.Warn("credkit: credential revoked", "credential", c.name, "reason", reason)
}

// Restore lifts a Revoke.
func (c *Credential) Restore() {
	c.checkMu.Lock()
	defer c.checkMu.Unlock()
	s := *c.snap.Load()
	if !s.revoked {
		return
	}
	s.revoked, s.reason = false, ""
	c.store(&s)
	c.emit(Event{Kind: EventRestored, Name: c.name, Time: c.o.clock.Now(), NewFingerprint: s.cur.Secret.Fingerprint(), NewVersion: s.cur.ID})
	c.o.logger.Info("credkit: credential restored", "credential", c.name)
}

// Close stops the background refresh and push notification and waits for
// them. It is idempotent. Get, Refresh and Status keep answering; Get
// returns the last value, Refresh an error wrapping credential.ErrClosed.
func (c *Credential) Close() error {
	c.closing.Do(func() {
		c.mu.Lock()
		c.st.closed = true
		c.mu.Unlock()
		if c.stopPush != nil {
			c.stopPush()
		}
		close(c.closed)
		<-c.done
		c.mu.Lock()
		f := c.flight
		c.mu.Unlock()
		if f != nil {
			<-f.done
		}
	})
	return nil
}

// poke is the push callback: it wakes the loop without blocking.
func (c *Credential) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// loop is the background goroutine.
func (c *Credential) loop() {
	defer close(c.done)
	timer := c.o.clock.NewTimer(c.nextWake())
	defer timer.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-c.kick:
			c.runCheck()
		case <-timer.C():
			c.tick()
		}
		timer.Stop()
		timer.Reset(c.nextWake())
	}
}

// tick handles a timer wake: drop an overlapped previous version, mark an
// expired one, and check when a check is due.
func (c *Credential) tick() {
	now := c.o.clock.Now()
	c.housekeep(now)
	if c.o.managed {
		return // its Set's batch group polls it
	}
	c.mu.Lock()
	due := !now.Before(c.st.nextRefresh)
	c.mu.Unlock()
	if due {
		c.runCheck()
	}
}

func (c *Credential) runCheck() {
	ctx, cancel := context.WithTimeout(context.Background(), c.o.fetchTimeout)
	defer cancel()
	_, _ = c.check(ctx, false)
}

// housekeep drops a previous version whose overlap ended and marks an
// expired current version.
func (c *Credential) housekeep(now time.Time) {
	c.checkMu.Lock()
	s := *c.snap.Load()
	changed := false
	dropped := false
	if !s.prev.Secret.IsZero() && !now.Before(s.prevUntil) {
		s.prev, s.prevUntil = credential.Version{}, time.Time{}
		changed, dropped = true, true
	}
	if !s.expired && s.cur.Expired(now) {
		s.expired = true
		changed = true
		c.o.logger.Error("credkit: credential expired", "credential", c.name, "version", s.cur.ID)
	}
	if changed {
		c.store(&s)
	}
	c.checkMu.Unlock()
	if dropped {
		c.changed()
	}
}

// nextWake returns how long the loop sleeps: until the next check, the end
// of the overlap window or the expiry, whichever is first.
func (c *Credential) nextWake() time.Duration {
	now := c.o.clock.Now()
	c.mu.Lock()
	next := c.st.nextRefresh
	if next.IsZero() {
		next = now.Add(c.jittered(c.o.interval))
		c.st.nextRefresh = next
	}
	c.mu.Unlock()
	if c.o.managed {
		next = now.Add(24 * time.Hour) // only housekeeping wakes it
	}
	s := c.snap.Load()
	if !s.prev.Secret.IsZero() && s.prevUntil.Before(next) {
		next = s.prevUntil
	}
	if !s.cur.Expires.IsZero() && !s.expired && s.cur.Expires.Before(next) {
		next = s.cur.Expires
	}
	d := next.Sub(now)
	if d < 0 {
		d = 0
	}
	return d
}

// jittered spreads d by ±jitter. c.mu is held.
func (c *Credential) jittered(d time.Duration) time.Duration {
	if c.o.jitter == 0 {
		return d
	}
	f := 1 + c.o.jitter*(2*c.rnd.Float64()-1)
	return time.Duration(float64(d) * f)
}

// backoff returns the delay after the n-th consecutive failure. c.mu is
// held.
func (c *Credential) backoff(n int) time.Duration {
	return backoffDelay(c.o.backoffBase, c.o.backoffCap, n, c.rnd)
}

// check asks the backend for the current version and installs it when it
// changed. It reports whether the value changed.
func (c *Credential) check(ctx context.Context, forced bool) (bool, error) {
	c.checkMu.Lock()
	defer c.checkMu.Unlock()
	now := c.o.clock.Now()
	cur := c.snap.Load().cur
	v, fetched, err := c.fetchIfChanged(ctx, cur)
	if err == nil && fetched {
		err = c.validate(v, now)
	}
	if err != nil {
		c.fail(now, err)
		return false, err
	}
	changed := fetched && !v.Secret.Equal(cur.Secret)
	if fetched {
		c.install(v, now, changed)
	}
	c.succeed(now, v, fetched)
	return changed, nil
}

// unchanged records a batch check that found version id; it reports
// whether that is the current version (nothing to fetch).
func (c *Credential) unchanged(id string) bool {
	c.checkMu.Lock()
	defer c.checkMu.Unlock()
	cur := c.snap.Load().cur
	if cur.Secret.IsZero() || id != cur.ID {
		return false
	}
	c.succeed(c.o.clock.Now(), cur, false)
	return true
}

// accept installs a version fetched by a batch.
func (c *Credential) accept(v credential.Version) {
	c.checkMu.Lock()
	defer c.checkMu.Unlock()
	now := c.o.clock.Now()
	if err := c.validate(v, now); err != nil {
		c.fail(now, err)
		return
	}
	cur := c.snap.Load().cur
	changed := !v.Secret.Equal(cur.Secret)
	if changed || v.ID != cur.ID {
		c.install(v, now, changed)
	}
	c.succeed(now, v, true)
}

// failed records the failure of a batch call.
func (c *Credential) failed(err error) {
	c.checkMu.Lock()
	defer c.checkMu.Unlock()
	c.fail(c.o.clock.Now(), c.wrap(err))
}

// setNext records when the credential's group polls next.
func (c *Credential) setNext(t time.Time) {
	c.mu.Lock()
	c.st.nextRefresh = t
	c.mu.Unlock()
}

// fetchIfChanged uses the backend's cheap check, when it has one, before
// fetching. fetched is false when the version is unchanged.
func (c *Credential) fetchIfChanged(ctx context.Context, cur credential.Version) (credential.Version, bool, error) {
	if vc, ok := c.p.(credential.VersionChecker); ok && !cur.Secret.IsZero() {
		id, err := vc.CurrentVersion(ctx, c.ref)
		if err != nil {
			return credential.Version{}, false, c.wrap(err)
		}
		if id == cur.ID {
			return cur, false, nil
		}
	}
	v, err := c.p.Fetch(ctx, c.ref)
	if err != nil {
		return credential.Version{}, false, c.wrap(err)
	}
	if v.ID == cur.ID && v.Secret.Equal(cur.Secret) {
		return cur, false, nil
	}
	return v, true, nil
}

func (c *Credential) wrap(err error) error {
	if ce, ok := err.(*credential.Error); ok && ce.Name == "" {
		cp := *ce
		cp.Name = c.name
		return &cp
	}
	return err
}

// validate refuses a version that must never replace a good one.
func (c *Credential) validate(v credential.Version, now time.Time) error {
	switch {
	case v.Secret.IsZero():
		return &credential.Error{Op: "refresh", Name: c.name, Ref: c.ref, Kind: credential.ErrInvalid, Reason: "the backend returned an empty value"}
	case v.Expired(now):
		return &credential.Error{Op: "refresh", Name: c.name, Ref: c.ref, Kind: credential.ErrExpired, Reason: "the backend returned an expired version"}
	}
	return nil
}

// install swaps in v. checkMu is held.
func (c *Credential) install(v credential.Version, now time.Time, changed bool) {
	old := *c.snap.Load()
	next := snapshot{cur: v, prev: old.prev, prevUntil: old.prevUntil, revoked: old.revoked, reason: old.reason}
	rotated := changed && !old.cur.Secret.IsZero()
	if rotated && c.o.overlap > 0 {
		next.prev, next.prevUntil = old.cur, now.Add(c.o.overlap)
	}
	c.store(&next)
	c.readyOnce.Do(func() { close(c.ready) })
	c.mu.Lock()
	c.st.fetched = now
	if rotated {
		c.st.rotations++
		c.st.lastRotated = now
	}
	c.mu.Unlock()
	if changed {
		if rotated {
			ev := Event{
				Kind: EventRotated, Name: c.name, Time: now,
				OldFingerprint: old.cur.Secret.Fingerprint(), NewFingerprint: v.Secret.Fingerprint(),
				OldVersion: old.cur.ID, NewVersion: v.ID,
			}
			c.o.logger.Info("credkit: credential rotated", "credential", c.name, "old_version", ev.OldVersion, "new_version", ev.NewVersion, "old_fingerprint", ev.OldFingerprint, "new_fingerprint", ev.NewFingerprint)
			c.emit(ev)
		}
		c.changed()
	}
}

// succeed records a successful check and schedules the next one.
func (c *Credential) succeed(now time.Time, v credential.Version, fetched bool) {
	c.mu.Lock()
	recovered := c.st.failures > 0
	c.st.lastAttempt, c.st.lastSuccess = now, now
	c.st.failures, c.st.failingSince, c.st.lastErr = 0, time.Time{}, nil
	next := now.Add(c.jittered(c.o.interval))
	if ahead := c.refreshAhead(v, now); !ahead.IsZero() && ahead.Before(next) {
		next = ahead
	}
	c.st.nextRefresh = next
	c.mu.Unlock()
	if recovered {
		c.o.logger.Info("credkit: credential refresh recovered", "credential", c.name, "version", v.ID)
		c.emit(Event{Kind: EventRecovered, Name: c.name, Time: now, NewVersion: v.ID, NewFingerprint: v.Secret.Fingerprint()})
	}
}

// refreshAhead returns when a version that expires must be refreshed.
func (c *Credential) refreshAhead(v credential.Version, now time.Time) time.Time {
	if v.Expires.IsZero() {
		return time.Time{}
	}
	start := v.Created
	if start.IsZero() || start.After(now) {
		start = c.st.fetched
	}
	life := v.Expires.Sub(start)
	at := start.Add(time.Duration(float64(life) * c.o.aheadFrac))
	// The margin brings the refresh forward, but never before half the
	// version's life: with a 60 s token and the 1-minute default margin the
	// refresh point would be the moment the token arrives, and each fresh
	// token would be refreshed at once, in a loop.
	if m := v.Expires.Add(-c.o.aheadMargin); m.Before(at) {
		if half := start.Add(life / 2); m.Before(half) {
			m = half
		}
		if m.Before(at) {
			at = m
		}
	}
	if !at.After(now) {
		// Already past the refresh point: retry soon, not in a busy loop.
		at = now.Add(c.o.backoffBase)
		if at.After(v.Expires) {
			at = v.Expires
		}
	}
	return at
}

// fail records a failed check and schedules a retry with backoff.
func (c *Credential) fail(now time.Time, err error) {
	c.mu.Lock()
	c.st.lastAttempt = now
	c.st.lastErr = err
	c.st.failures++
	c.st.total++
	if c.st.failingSince.IsZero() {
		c.st.failingSince = now
	}
	n := c.st.failures
	c.st.nextRefresh = now.Add(c.backoff(n))
	c.mu.Unlock()
	c.o.logger.Warn("credkit: credential refresh failed; serving the last good value", "credential", c.name, "error_kind", credential.KindName(err), "consecutive_failures", n)
	if n == 1 {
		c.emit(Event{Kind: EventFailed, Name: c.name, Time: now, ErrorKind: credential.KindName(err)})
	}
}

func (c *Credential) emit(ev Event) {
	for _, s := range c.subs.list() {
		if s.f.all || ev.Kind == EventRotated {
			s.f.f(ev)
		}
	}
}

// changed tells the owning Set that the values held changed.
func (c *Credential) changed() {
	c.mu.Lock()
	f := c.onChange
	c.mu.Unlock()
	if f != nil {
		f()
	}
}
