package rotate

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
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

	snap      atomic.Pointer[snapshot] // stored only with mu held
	ready     chan struct{}            // closed once the first value is in
	readyOnce sync.Once

	// ctx is the context of every background fetch; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	// mu guards the fields below and is the writer lock of snap. It is
	// never held across a backend call or a callback.
	mu           sync.Mutex
	md           credential.Metadata
	st           state
	gen          uint64               // bumped by every install
	staged       []credential.Version // told to change listeners, not yet published
	flight       *call
	lastForced   time.Time
	lastForcedID string // the version that was current at the last forced fetch
	// seq numbers the checks in the order they start; okSeq is the latest
	// started check that succeeded, revSeq the check that revoked. A
	// check's outcome about revocation counts only if no check that
	// started later has said otherwise, so a poll in flight when a push
	// revoked cannot lift the revocation with its older answer.
	seq, okSeq, revSeq uint64
	onChange           func() // set by a Set: values changed

	subs listeners[sub]

	kick     chan struct{}
	closed   chan struct{}
	done     chan struct{}
	closing  sync.Once
	stopPush func()
	rnd      *rand.Rand

	// ph is the push channel's health when the credential is subscribed
	// to a notifier that reports it and the safety interval relaxes
	// polling; nil otherwise. Set before the loop starts.
	ph credential.PushHealth
	// mints: every fetch mints a new value (credential.Minter); refreshed
	// ahead of expiry only.
	mints bool
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
	// byBackend: the backend reported the secret revoked (a check returned
	// credential.ErrRevoked); the next successful check lifts it.
	byBackend  bool
	backendWhy string
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
	// relaxed: nextRefresh was scheduled at the safety interval because
	// push was healthy.
	relaxed bool
}

// store publishes s, computing its fast-path flag.
func (c *Credential) store(s *snapshot) {
	s.plain = !s.revoked && !s.byBackend && !s.expired && !s.cur.Secret.IsZero() && s.cur.Expires.IsZero()
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
	_ credential.Credential         = (*Credential)(nil)
	_ credential.Refresher          = (*Credential)(nil)
	_ credential.RejectionRefresher = (*Credential)(nil)
)

// Watch starts keeping the credential name, served by p at ref, current.
// The first fetch happens before Watch returns, bounded by ctx and by
// [WithFetchTimeout], and its error is returned (fail fast), unless
// [WithPending] is given: then it starts at once in the background.
//
// Defaults: poll every minute ±10%, push when the backend is a
// credential.Notifier, the backend's cheap check (credential.VersionChecker)
// before a fetch, backoff 1 s doubling to 5 minutes with full jitter,
// refresh ahead at 80% of a version's lifetime or a minute before it
// expires, a 10-minute overlap for the previous version, one forced
// Refresh per version and at most one per 5 s for the same version, a 30 s
// fetch timeout. Close stops it.
//
// A nil p is an error wrapping [credential.ErrInvalid].
func Watch(ctx context.Context, name string, p credential.Provider, ref string, opts ...Option) (*Credential, error) {
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	return watch(ctx, name, p, ref, o, nil)
}

// isNil reports whether p is nil, or an interface holding a nil pointer,
// map, func or chan (a provider variable that was never set).
func isNil(p any) bool {
	if p == nil {
		return true
	}
	switch v := reflect.ValueOf(p); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Interface, reflect.Slice:
		return v.IsNil()
	}
	return false
}

// watch starts a credential. When first is not nil it is the first version,
// already fetched (by a batch), and no fetch is made before watch returns.
func watch(ctx context.Context, name string, p credential.Provider, ref string, o options, first *credential.Version) (*Credential, error) {
	if isNil(p) {
		return nil, &credential.Error{Op: "watch", Name: name, Kind: credential.ErrInvalid, Reason: "no provider (nil)"}
	}
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
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.snap.Store(&snapshot{})
	if m, ok := p.(credential.Minter); ok && m.Mints() {
		c.mints = true
	}
	switch {
	case first != nil:
		now := o.clock.Now()
		if err := c.validate(*first, now); err != nil {
			c.cancel()
			return nil, err
		}
		c.install(0, *first, now)
	case !o.pending:
		fctx, cancel := context.WithTimeout(ctx, o.fetchTimeout)
		_, err := c.check(fctx)
		cancel()
		if err != nil {
			c.cancel()
			return nil, err
		}
	default:
		c.poke() // the first fetch starts at once, in the background
	}
	if n, ok := p.(credential.Notifier); ok && o.push {
		stop, err := n.NotifyChange(ref, c.poke)
		if err != nil {
			o.logger.Warn("credkit: push notification unavailable; polling only", "credential", name, "error_kind", credential.KindName(err))
		} else {
			c.stopPush = stop
			if ph, ok := p.(credential.PushHealth); ok && o.safety > o.interval {
				c.ph = ph
			}
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
	case s.byBackend:
		return credential.Secret{}, &credential.Error{Op: "get", Name: c.name, Kind: credential.ErrRevoked, Reason: "revoked by the backend: " + s.backendWhy}
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

// incoming returns the versions that change listeners have been told of
// but that are not published yet.
func (c *Credential) incoming() []credential.Version {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.staged
}

// OnRotate registers f, called after each rotation with an [Event] that
// carries fingerprints and version IDs, never values. f runs after the new
// value is published (a Get already returns it) and after every change
// listener (a tracking redactor) knows it, on the goroutine that installed
// it — the credential's refresh goroutine, a Set's batch poller, or the
// fetch a Refresh started — with no lock held, after the subscribers
// registered before it. It may call any method of the credential except
// Close (Revoke included); keep it short. The returned function
// unregisters f; f may call it.
func (c *Credential) OnRotate(f func(Event)) (unsubscribe func()) {
	return c.subscribe(f, false)
}

// subscribe registers f for rotations, or for every event when all is set.
func (c *Credential) subscribe(f func(Event), all bool) func() {
	return c.subs.add(sub{f, all})
}

// Refresh fetches now, and reports whether the value changed. Concurrent
// callers share one fetch. Forced fetches are rate-limited per version: the
// first Refresh while a version is current fetches at once; a further one
// for the same version within the minimum refresh interval
// ([WithMinRefreshInterval]) returns (false, nil) without I/O. So a 401
// met by a key that was just rotated finds the new one, while a revoked
// key answered 401 by every request causes one fetch per interval.
func (c *Credential) Refresh(ctx context.Context) (bool, error) {
	return c.refresh(ctx, nil)
}

// RefreshRejected is [Credential.Refresh] for a 401 that rejected the value
// rejected: when that is no longer the current value (a rotation was
// installed while the request was in flight) it reports true at once,
// without a fetch and without using up the current version's forced
// refresh. credential.Transport calls it on a 401.
func (c *Credential) RefreshRejected(ctx context.Context, rejected credential.Secret) (bool, error) {
	return c.refresh(ctx, &rejected)
}

func (c *Credential) refresh(ctx context.Context, rejected *credential.Secret) (bool, error) {
	c.mu.Lock()
	if c.st.closed {
		c.mu.Unlock()
		return false, &credential.Error{Op: "refresh", Name: c.name, Kind: credential.ErrClosed}
	}
	if cur := c.snap.Load().cur.Secret; rejected != nil && !cur.IsZero() && !cur.Equal(*rejected) {
		c.mu.Unlock()
		return true, nil
	}
	f := c.flight
	if f == nil {
		now := c.o.clock.Now()
		cur := c.snap.Load().cur.ID
		if cur == c.lastForcedID && !c.lastForced.IsZero() && now.Sub(c.lastForced) < c.o.minRefresh {
			c.mu.Unlock()
			return false, nil
		}
		c.lastForced, c.lastForcedID = now, cur
		f = &call{done: make(chan struct{})}
		c.flight = f
		go func() {
			// On the credential's context, not the first caller's: other
			// callers share this fetch and must not be canceled by it;
			// Close cancels it.
			fctx, cancel := context.WithTimeout(c.ctx, c.o.fetchTimeout)
			f.changed, f.err = c.check(fctx)
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
// Restore: the kill switch for a leaked key. It does not wait for a fetch
// in flight, and a version installed later stays revoked. reason is shown
// in errors, status and inventory: it must not hold a value.
func (c *Credential) Revoke(reason string) {
	c.mu.Lock()
	s := *c.snap.Load()
	s.revoked, s.reason = true, reason
	c.store(&s)
	c.mu.Unlock()
	c.o.logger.Warn("credkit: credential revoked", "credential", c.name, "reason", reason)
	c.emit(Event{Kind: EventRevoked, Name: c.name, Time: c.o.clock.Now(), Reason: reason, NewFingerprint: s.cur.Secret.Fingerprint(), NewVersion: s.cur.ID})
}

// Restore lifts a Revoke.
func (c *Credential) Restore() {
	c.mu.Lock()
	s := *c.snap.Load()
	if !s.revoked {
		c.mu.Unlock()
		return
	}
	s.revoked, s.reason = false, ""
	c.store(&s)
	c.mu.Unlock()
	c.o.logger.Info("credkit: credential restored", "credential", c.name)
	c.emit(Event{Kind: EventRestored, Name: c.name, Time: c.o.clock.Now(), NewFingerprint: s.cur.Secret.Fingerprint(), NewVersion: s.cur.ID})
}

// Close stops the background refresh and push notification, cancels the
// fetches in flight and waits for them. It is idempotent. Get, Refresh and
// Status keep answering; Get returns the last value, Refresh an error
// wrapping credential.ErrClosed. It must not be called from an OnRotate
// subscriber.
func (c *Credential) Close() error {
	c.closing.Do(func() {
		c.mu.Lock()
		c.st.closed = true
		f := c.flight
		c.mu.Unlock()
		c.cancel()
		if c.stopPush != nil {
			c.stopPush()
		}
		close(c.closed)
		<-c.done
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
	m := c.mode()
	c.mu.Lock()
	if c.st.relaxed && m != ModePush {
		// Push failed while the credential polled at the safety interval:
		// back to the normal one, counted from the last success.
		c.st.relaxed = false
		if back := c.st.lastSuccess.Add(c.o.interval); back.Before(c.st.nextRefresh) {
			c.st.nextRefresh = back
		}
	}
	due := !now.Before(c.st.nextRefresh)
	c.mu.Unlock()
	if due {
		c.runCheck()
	}
}

// runCheck checks once in the background, bounded by the fetch timeout and
// canceled by Close.
func (c *Credential) runCheck() {
	ctx, cancel := context.WithTimeout(c.ctx, c.o.fetchTimeout)
	defer cancel()
	_, _ = c.check(ctx)
}

// housekeep drops a previous version whose overlap ended and marks an
// expired current version.
func (c *Credential) housekeep(now time.Time) {
	c.mu.Lock()
	s := *c.snap.Load()
	changed := false
	dropped := false
	expired := false
	if !s.prev.Secret.IsZero() && !now.Before(s.prevUntil) {
		s.prev, s.prevUntil = credential.Version{}, time.Time{}
		changed, dropped = true, true
	}
	if !s.expired && s.cur.Expired(now) {
		s.expired = true
		changed, expired = true, true
	}
	if changed {
		c.store(&s)
	}
	c.mu.Unlock()
	if expired {
		c.o.logger.Error("credkit: credential expired", "credential", c.name, "version", s.cur.ID)
	}
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
	if c.st.relaxed {
		// Wake at the normal interval to see whether push still works; a
		// wake costs no backend call.
		if bound := now.Add(c.o.interval); bound.Before(next) {
			next = bound
		}
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
// changed. It reports whether the value changed. No lock is held while it
// calls the backend: the version is installed only if no other install
// happened meanwhile (a generation check), so a slow fetch never replaces
// a newer value, and Revoke never waits for it.
func (c *Credential) check(ctx context.Context) (bool, error) {
	c.mu.Lock()
	gen := c.gen
	cur := c.snap.Load().cur
	c.seq++
	seq := c.seq
	c.mu.Unlock()
	now := c.o.clock.Now()
	v, fetched, err := c.fetchIfChanged(ctx, cur)
	if err == nil && fetched {
		err = c.validate(v, now)
	}
	if err != nil {
		if errors.Is(err, credential.ErrRevoked) {
			c.backendRevoke(now, seq, err)
		}
		c.fail(now, err)
		return false, err
	}
	if !fetched {
		c.succeed(now, seq, cur, false)
		return false, nil
	}
	changed, installed := c.install(gen, v, now)
	if !installed {
		// Another check installed a version meanwhile: it is at least as
		// recent as this one's start. The value changed if it differs.
		latest := c.snap.Load().cur
		c.succeed(now, seq, latest, true)
		return !latest.Secret.Equal(cur.Secret), nil
	}
	c.succeed(now, seq, v, true)
	return changed, nil
}

// begin numbers a check that starts now: a batch's, before its call.
func (c *Credential) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	return c.seq
}

// unchanged records a batch check, begun as seq, that found version id; it
// reports whether that is the current version (nothing to fetch).
func (c *Credential) unchanged(seq uint64, id string) bool {
	cur := c.snap.Load().cur
	if cur.Secret.IsZero() || id != cur.ID {
		return false
	}
	c.succeed(c.o.clock.Now(), seq, cur, false)
	return true
}

// generation returns the install generation, for a batch that fetches
// outside any lock.
func (c *Credential) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// accept installs a version fetched by a batch that started at generation
// gen, begun as seq.
func (c *Credential) accept(gen, seq uint64, v credential.Version) {
	now := c.o.clock.Now()
	if err := c.validate(v, now); err != nil {
		c.fail(now, err)
		return
	}
	if cur := c.snap.Load().cur; v.ID == cur.ID && v.Secret.Equal(cur.Secret) {
		c.succeed(now, seq, cur, true)
		return
	}
	c.install(gen, v, now)
	c.succeed(now, seq, c.snap.Load().cur, true)
}

// failed records the failure of a batch call.
func (c *Credential) failed(err error) {
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

// install publishes v unless another install happened since generation
// gen. Change listeners (a tracking redactor) hear of v before it is
// published, so no reader or subscriber can see a value they do not know;
// OnRotate subscribers run after it is published. No lock is held during
// either callback. It reports whether the value changed and whether v was
// installed.
func (c *Credential) install(gen uint64, v credential.Version, now time.Time) (changed, installed bool) {
	c.mu.Lock()
	if c.gen != gen {
		c.mu.Unlock()
		return false, false
	}
	changed = !v.Secret.Equal(c.snap.Load().cur.Secret)
	if changed {
		c.staged = append(c.staged[:len(c.staged):len(c.staged)], v)
	}
	c.mu.Unlock()
	if changed {
		c.changed() // before anyone can read v
	}

	c.mu.Lock()
	if changed {
		c.unstage(v)
	}
	if c.gen != gen {
		// Another install won while the listeners ran.
		c.mu.Unlock()
		return false, false
	}
	c.gen++
	old := *c.snap.Load()
	next := snapshot{cur: v, prev: old.prev, prevUntil: old.prevUntil, revoked: old.revoked, reason: old.reason, byBackend: old.byBackend, backendWhy: old.backendWhy}
	rotated := changed && !old.cur.Secret.IsZero()
	if rotated && c.o.overlap > 0 {
		next.prev, next.prevUntil = old.cur, now.Add(c.o.overlap)
	}
	c.store(&next)
	c.st.fetched = now
	if rotated {
		c.st.rotations++
		c.st.lastRotated = now
	}
	c.mu.Unlock()
	c.readyOnce.Do(func() { close(c.ready) })
	if rotated {
		ev := Event{
			Kind: EventRotated, Name: c.name, Time: now,
			OldFingerprint: old.cur.Secret.Fingerprint(), NewFingerprint: v.Secret.Fingerprint(),
			OldVersion: old.cur.ID, NewVersion: v.ID,
		}
		c.o.logger.Info("credkit: credential rotated", "credential", c.name, "old_version", ev.OldVersion, "new_version", ev.NewVersion, "old_fingerprint", ev.OldFingerprint, "new_fingerprint", ev.NewFingerprint)
		c.emit(ev)
	}
	return changed, true
}

// unstage removes v from the staged versions. c.mu is held.
func (c *Credential) unstage(v credential.Version) {
	for i, s := range c.staged {
		if s.ID == v.ID && s.Secret.Equal(v.Secret) {
			// A fresh slice: a caller ranging over an older one is unaffected.
			c.staged = append(c.staged[:i:i], c.staged[i+1:]...)
			if len(c.staged) == 0 {
				c.staged = nil
			}
			return
		}
	}
}

// succeed records a successful check and schedules the next one.
func (c *Credential) succeed(now time.Time, seq uint64, v credential.Version, fetched bool) {
	m := c.mode()
	c.mu.Lock()
	recovered := c.st.failures > 0
	c.st.lastAttempt, c.st.lastSuccess = now, now
	c.st.failures, c.st.failingSince, c.st.lastErr = 0, time.Time{}, nil
	next := now.Add(c.jittered(c.every(m)))
	ahead := c.refreshAhead(v, now)
	switch {
	case m == ModeRefreshAhead && !ahead.IsZero():
		next = ahead // a minted value: ahead of its expiry, never on a schedule
	case !ahead.IsZero() && ahead.Before(next):
		next = ahead
	}
	c.st.nextRefresh = next
	c.st.relaxed = m == ModePush
	c.okSeq = max(c.okSeq, seq)
	s := *c.snap.Load()
	lifted := s.byBackend && seq > c.revSeq
	if lifted {
		s.byBackend, s.backendWhy = false, ""
		c.store(&s)
	}
	c.mu.Unlock()
	if lifted {
		c.o.logger.Info("credkit: the backend serves the credential again; revocation lifted", "credential", c.name, "version", v.ID)
		c.emit(Event{Kind: EventRestored, Name: c.name, Time: now, NewVersion: v.ID, NewFingerprint: v.Secret.Fingerprint(), Reason: "the backend serves it again"})
	}
	if recovered {
		c.o.logger.Info("credkit: credential refresh recovered", "credential", c.name, "version", v.ID)
		c.emit(Event{Kind: EventRecovered, Name: c.name, Time: now, NewVersion: v.ID, NewFingerprint: v.Secret.Fingerprint()})
	}
}

// refreshAhead returns when a version that expires must be refreshed.
// c.mu is held.
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
	// The margin brings the refresh forward only for versions that live
	// more than twice as long as it: with a 60 s token and the 1-minute
	// default margin the refresh point would be the moment the token
	// arrives, and each fresh token would be refreshed at once, in a loop.
	// A version that short is refreshed at the fraction of its life.
	if m := v.Expires.Add(-c.o.aheadMargin); m.Before(at) && c.o.aheadMargin < life/2 {
		at = m
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

// fail records a failed check and schedules a retry with backoff. A check
// canceled by Close is not a failure of the backend.
func (c *Credential) fail(now time.Time, err error) {
	c.mu.Lock()
	if c.st.closed && errors.Is(err, context.Canceled) {
		c.mu.Unlock()
		return
	}
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
	if errors.Is(err, credential.ErrRevoked) {
		c.o.logger.Warn("credkit: credential refresh failed: the backend revoked it; Get fails until a check succeeds", "credential", c.name, "consecutive_failures", n)
	} else {
		c.o.logger.Warn("credkit: credential refresh failed; serving the last good value", "credential", c.name, "error_kind", credential.KindName(err), "consecutive_failures", n)
	}
	if n == 1 {
		c.emit(Event{Kind: EventFailed, Name: c.name, Time: now, ErrorKind: credential.KindName(err)})
	}
}

// emit delivers ev to the subscribers, in the order they subscribed. No
// lock is held.
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

// backendRevoke makes Get fail with credential.ErrRevoked because a check
// returned it (a disabled secret): the fleet-wide kill switch, reaching
// each replica with the push or poll that finds it. Unlike Revoke, the
// next successful check lifts it.
func (c *Credential) backendRevoke(now time.Time, seq uint64, err error) {
	why := "the backend reports the secret revoked"
	var ce *credential.Error
	if errors.As(err, &ce) && ce.Reason != "" {
		why = ce.Reason // a backend's reason names states, never values
	}
	c.mu.Lock()
	s := *c.snap.Load()
	if s.byBackend || seq < c.okSeq {
		// Already revoked, or a check that started later succeeded: this
		// answer is older than the backend's current state.
		c.revSeq = max(c.revSeq, seq)
		c.mu.Unlock()
		return
	}
	c.revSeq = seq
	s.byBackend, s.backendWhy = true, why
	c.store(&s)
	c.mu.Unlock()
	c.o.logger.Warn("credkit: credential revoked by its backend", "credential", c.name, "reason", why)
	c.emit(Event{Kind: EventRevoked, Name: c.name, Time: now, Reason: "by the backend: " + why, NewFingerprint: s.cur.Secret.Fingerprint(), NewVersion: s.cur.ID})
}

// Mode says how a credential learns of changes, in its [Status].
type Mode string

const (
	// ModePoll: polling at the normal interval (no push, or push that is
	// not healthy now).
	ModePoll Mode = "poll"
	// ModePush: changes are pushed and the push channel is healthy;
	// polling continues at the safety interval only.
	ModePush Mode = "push"
	// ModeRefreshAhead: every fetch mints a new value
	// (credential.Minter); it is refreshed ahead of its expiry only.
	ModeRefreshAhead Mode = "refresh_ahead"
)

// mode returns the credential's mode now. It calls the provider's
// PushHealthy: no lock may be held.
func (c *Credential) mode() Mode {
	switch {
	case c.mints:
		return ModeRefreshAhead
	case c.ph != nil && c.ph.PushHealthy():
		return ModePush
	}
	return ModePoll
}

// every returns the poll interval of mode m.
func (c *Credential) every(m Mode) time.Duration {
	if m == ModePoll {
		return c.o.interval
	}
	return c.o.safety
}
