package vault

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credkit/credkit/credential"
)

// leaseSnap is an immutable snapshot of one dynamic secret: all its fields,
// from one lease.
type leaseSnap struct {
	id        string // lease_id; empty for a read that gave no lease
	data      map[string]any
	issued    time.Time
	renewed   time.Time // last read or renewal
	expires   time.Time
	ttl       time.Duration // the lease's first duration: the increment asked at renewal
	renewable bool
	capped    bool // renewal no longer extends it: replace before expiry
	renewals  int
	replaceAt time.Time // when capped: when the new secret is read
}

// leaseEntry is the one shared lease of a path: every ref of the path
// (#username, #password...) reads its fields from the same snapshot.
type leaseEntry struct {
	key, ns, path string
	snap          atomic.Pointer[leaseSnap]
	used          atomic.Int64 // unix nanos of the last Fetch or check
	kick          chan struct{}
}

type readCall struct {
	done chan struct{}
	snap *leaseSnap
	err  error
}

type listener struct {
	mu      sync.Mutex
	stopped bool
	f       func()
}

// leaseManager holds the dynamic secrets' leases, renews them ahead of
// expiry and replaces them before their max TTL.
type leaseManager struct {
	p *Provider

	mu      sync.Mutex
	entries map[string]*leaseEntry
	flights map[string]*readCall
	subs    map[string]map[*listener]struct{}

	renewals     atomic.Int64
	replacements atomic.Int64
}

// tokenKey is the listeners' key of the token.
const tokenKey = "\x00token"

func leaseKey(ns, path string) string { return ns + "\x00" + path }

// current returns the path's live snapshot, reading a new secret when
// there is none or it has expired.
func (m *leaseManager) current(ctx context.Context, r ref) (*leaseSnap, error) {
	key := leaseKey(r.ns, r.path)
	now := m.p.now()
	m.mu.Lock()
	if e := m.entries[key]; e != nil {
		if s := e.snap.Load(); now.Before(s.expires) {
			e.used.Store(now.UnixNano())
			m.mu.Unlock()
			return s, nil
		}
	}
	f := m.flights[key]
	if f == nil {
		f = &readCall{done: make(chan struct{})}
		if m.flights == nil {
			m.flights = map[string]*readCall{}
		}
		if !m.p.spawn(func() { m.read(f, key, r) }) {
			m.mu.Unlock()
			return nil, &credential.Error{Op: "fetch", Ref: r.safe, Kind: credential.ErrClosed}
		}
		m.flights[key] = f
	}
	m.mu.Unlock()
	select {
	case <-f.done:
		return f.snap, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// read reads the secret once for every waiting caller and installs it.
func (m *leaseManager) read(f *readCall, key string, r ref) {
	ctx, cancel := context.WithTimeout(m.p.ctx, 30*time.Second)
	defer cancel()
	s, err := m.readSecret(ctx, r.ns, r.path, r.safe)
	m.mu.Lock()
	delete(m.flights, key)
	if err == nil && s.id != "" {
		m.install(key, r.ns, r.path, s)
	}
	m.mu.Unlock()
	f.snap, f.err = s, err
	close(f.done)
	if err == nil && s.id != "" {
		m.notify(key)
	}
}

// install stores s as the path's lease, starting its keeper. m.mu is held.
func (m *leaseManager) install(key, ns, path string, s *leaseSnap) {
	e := m.entries[key]
	if e == nil {
		e = &leaseEntry{key: key, ns: ns, path: path, kick: make(chan struct{}, 1)}
		e.snap.Store(s)
		e.used.Store(m.p.now().UnixNano())
		if m.p.spawn(func() { m.keep(e) }) {
			m.entries[key] = e
		}
		return
	}
	e.snap.Store(s)
	e.used.Store(m.p.now().UnixNano())
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// readSecret reads a dynamic secret: a new lease.
func (m *leaseManager) readSecret(ctx context.Context, ns, path, safe string) (*leaseSnap, error) {
	sec, _, err := m.p.request(ctx, "fetch", safe, http.MethodGet, path, ns, nil, nil)
	if err != nil {
		return nil, err
	}
	if sec == nil || len(sec.Data) == 0 {
		return nil, &credential.Error{Op: "fetch", Ref: safe, Kind: credential.ErrNotFound, Reason: "no data at this path"}
	}
	now := m.p.now()
	s := &leaseSnap{id: sec.LeaseID, data: sec.Data, issued: now, renewed: now, renewable: sec.Renewable}
	if sec.LeaseID != "" {
		s.ttl = time.Duration(sec.LeaseDuration) * time.Second
		if s.ttl <= 0 {
			return nil, &credential.Error{Op: "fetch", Ref: safe, Kind: credential.ErrInvalid, Reason: "Vault gave a lease without a duration"}
		}
		s.expires = now.Add(s.ttl)
		s.capped = !s.renewable
		if s.capped {
			s.replaceAt = now.Add(m.p.twoThirds(s.ttl))
		}
	}
	return s, nil
}

// fetch returns the value ref selects from the path's shared lease.
func (m *leaseManager) fetch(ctx context.Context, r ref) (credential.Version, error) {
	s, err := m.current(ctx, r)
	if err != nil {
		return credential.Version{}, err
	}
	v, err := selectValue("fetch", r.safe, s.data, r.field)
	if err != nil {
		return credential.Version{}, err
	}
	if s.id == "" {
		return credential.Version{Secret: credential.NewSecret(v), ID: credential.ContentID(v)}, nil
	}
	return credential.Version{Secret: credential.NewSecret(v), ID: s.id + "@" + strconv.Itoa(s.renewals), Created: s.issued, Expires: s.expires}, nil
}

// LeaseOf returns the lease ID inside a dynamic secret's version ID
// (LEASE_ID@RENEWALS): two refs of one path whose versions have the same
// lease come from the same secret.
func LeaseOf(versionID string) string {
	for i := len(versionID) - 1; i >= 0; i-- {
		if versionID[i] == '@' {
			return versionID[:i]
		}
	}
	return versionID
}

// keep renews the entry's lease at two thirds of its remaining TTL (less
// jitter), and when renewal stops extending it (max TTL), reads a new
// secret at two thirds of what is left: the old lease is still valid for
// the last third, which is what a rotate overlap needs. A lease nobody
// fetched or checked for a whole TTL is let go.
func (m *leaseManager) keep(e *leaseEntry) {
	var t lazyTimer
	defer t.stop()
	var retryAt time.Time
	failures := 0
	var planned *leaseSnap
	var plannedAt time.Time
	for {
		s := e.snap.Load()
		if planned != s {
			planned = s
			if s.capped {
				plannedAt = s.replaceAt
			} else {
				plannedAt = s.renewed.Add(m.p.twoThirds(s.expires.Sub(s.renewed)))
			}
		}
		at := plannedAt
		if !retryAt.IsZero() {
			at = retryAt
		}
		t.at(m.p.o.clock, at)
		select {
		case <-m.p.ctx.Done():
			return
		case <-e.kick:
			retryAt, failures = time.Time{}, 0
			continue
		case <-t.c():
			t.fired()
		}
		if e.snap.Load() != s {
			continue // a read replaced the lease meanwhile: plan again
		}
		now := m.p.now()
		if idle := now.Sub(time.Unix(0, e.used.Load())); idle > max(s.ttl, time.Minute) {
			m.mu.Lock()
			if m.entries[e.key] == e {
				delete(m.entries, e.key)
			}
			m.mu.Unlock()
			m.p.o.logger.Info("credkit: Vault lease unused for a TTL; no longer renewed", "path", e.path, "lease_id", s.id)
			return
		}
		var err error
		if s.capped || !s.renewable {
			err = m.replace(e, s)
		} else {
			err = m.renew(e, s)
		}
		if err == nil {
			retryAt, failures = time.Time{}, 0
			continue
		}
		failures++
		d := min(time.Second<<min(failures-1, 6), time.Minute)
		if rem := s.expires.Sub(now) / 4; rem > time.Second && d > rem {
			d = rem
		}
		retryAt = now.Add(d)
	}
}

// renew extends the lease by its first duration.
func (m *leaseManager) renew(e *leaseEntry, s *leaseSnap) error {
	ctx, cancel := context.WithTimeout(m.p.ctx, 30*time.Second)
	defer cancel()
	sec, status, err := m.p.request(ctx, "renew", e.path, http.MethodPut, "sys/leases/renew", e.ns, nil,
		map[string]any{"lease_id": s.id, "increment": int64(s.ttl / time.Second)})
	now := m.p.now()
	if err != nil {
		m.p.o.logger.Warn("credkit: Vault lease renewal failed", "path", e.path, "lease_id", s.id, "error_kind", credential.KindName(err))
		if status == http.StatusBadRequest || status == http.StatusForbidden || status == http.StatusNotFound {
			// The lease is gone (revoked, expired) or may not be renewed:
			// read a new secret now.
			return m.replace(e, s)
		}
		if !now.Before(s.expires) {
			return m.replace(e, s)
		}
		return err
	}
	if sec == nil {
		return &credential.Error{Op: "renew", Ref: e.path, Kind: credential.ErrUnavailable, Reason: "Vault's renewal answer is empty"}
	}
	got := time.Duration(sec.LeaseDuration) * time.Second
	ns := *s
	ns.renewed, ns.expires, ns.renewals = now, now.Add(got), s.renewals+1
	ns.renewable = sec.Renewable
	ns.capped = got < s.ttl-tolerance(s.ttl) || !sec.Renewable
	if ns.capped {
		ns.replaceAt = now.Add(m.p.twoThirds(got))
		m.p.o.logger.Info("credkit: Vault lease reached its max TTL; a new secret will be read before it expires",
			"path", e.path, "lease_id", s.id, "expires", ns.expires, "replace_at", ns.replaceAt)
	}
	if !e.snap.CompareAndSwap(s, &ns) {
		return nil
	}
	m.renewals.Add(1)
	m.notify(e.key)
	return nil
}

// replace reads a new secret (a new lease) and swaps it in. The old lease
// is left to lapse at its own expiry: whoever still uses it keeps working.
func (m *leaseManager) replace(e *leaseEntry, s *leaseSnap) error {
	ctx, cancel := context.WithTimeout(m.p.ctx, 30*time.Second)
	defer cancel()
	ns, err := m.readSecret(ctx, e.ns, e.path, e.path)
	if err != nil {
		m.p.o.logger.Warn("credkit: reading a new Vault dynamic secret failed; the old lease is kept until it expires",
			"path", e.path, "lease_id", s.id, "expires", s.expires, "error_kind", credential.KindName(err))
		return err
	}
	if ns.id == "" {
		return &credential.Error{Op: "fetch", Ref: e.path, Kind: credential.ErrInvalid, Reason: "the path no longer returns a lease"}
	}
	if !e.snap.CompareAndSwap(s, ns) {
		return nil
	}
	m.replacements.Add(1)
	m.p.o.logger.Info("credkit: Vault dynamic secret replaced before its lease expired", "path", e.path,
		"old_lease_id", s.id, "old_expires", s.expires, "new_lease_id", ns.id)
	m.notify(e.key)
	return nil
}

// notify calls the listeners of key.
func (m *leaseManager) notify(key string) {
	m.mu.Lock()
	ls := make([]*listener, 0, len(m.subs[key]))
	for l := range m.subs[key] {
		ls = append(ls, l)
	}
	m.mu.Unlock()
	for _, l := range ls {
		l.mu.Lock()
		if !l.stopped {
			l.f()
		}
		l.mu.Unlock()
	}
}

func (m *leaseManager) subscribe(key string, f func()) func() {
	l := &listener{f: f}
	m.mu.Lock()
	if m.subs[key] == nil {
		m.subs[key] = map[*listener]struct{}{}
	}
	m.subs[key][l] = struct{}{}
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(m.subs[key], l)
		m.mu.Unlock()
		l.mu.Lock() // waits for a call in progress
		l.stopped = true
		l.mu.Unlock()
	}
}

// describe reports a dynamic secret's lease facts.
func (m *leaseManager) describe(ctx context.Context, r ref) (credential.Description, error) {
	s, err := m.current(ctx, r)
	if err != nil {
		return credential.Description{}, err
	}
	d := credential.Description{RotationEnabled: s.id != "", LastRotated: s.issued}
	if s.id == "" {
		return d, nil
	}
	// A dynamic secret under a lease is minted, renewed and replaced by
	// the provider: a short-lived credential, issued by its secrets
	// engine's path for the provider's Vault identity.
	d.Metadata.ShortLived = true
	d.Issuer = m.p.vaultURL(nsPath(r.ns, r.path))
	d.Subject = m.p.auth.subject(m.p.auth.statusNow())
	if s.capped {
		d.NextRotation = s.replaceAt
	}
	d.Metadata.Tags = map[string]string{
		"vault_lease_id":              s.id,
		"vault_lease_expires":         s.expires.UTC().Format(time.RFC3339),
		"vault_lease_ttl":             s.ttl.String(),
		"vault_lease_renewable":       strconv.FormatBool(s.renewable),
		"vault_lease_renewals":        strconv.Itoa(s.renewals),
		"vault_lease_max_ttl_reached": strconv.FormatBool(s.capped),
	}
	return d, nil
}

// revokeAll revokes every lease held (Close with WithRevokeOnClose).
func (m *leaseManager) revokeAll(ctx context.Context) {
	m.mu.Lock()
	var es []*leaseEntry
	for _, e := range m.entries {
		es = append(es, e)
	}
	m.mu.Unlock()
	for _, e := range es {
		s := e.snap.Load()
		tok := m.p.auth.cur.Load()
		if tok == nil {
			return
		}
		_, _, err := m.p.send(ctx, "revoke", e.path, http.MethodPut, "sys/leases/revoke", e.ns, nil, map[string]any{"lease_id": s.id}, tok.token)
		if err != nil {
			m.p.o.logger.Warn("credkit: revoking a Vault lease on close failed", "path", e.path, "lease_id", s.id, "error_kind", credential.KindName(err))
		}
	}
}

// LeaseStats counts what the provider did with dynamic secrets' leases.
type LeaseStats struct {
	// Active is the number of leases held.
	Active int
	// Renewals and Replacements count successful renewals and secrets read
	// anew before their lease's max TTL.
	Renewals, Replacements int64
}

// LeaseStats returns the lease counters.
func (p *Provider) LeaseStats() LeaseStats {
	p.leases.mu.Lock()
	n := len(p.leases.entries)
	p.leases.mu.Unlock()
	return LeaseStats{Active: n, Renewals: p.leases.renewals.Load(), Replacements: p.leases.replacements.Load()}
}

// Leases is the view of a Provider for dynamic secrets: the same shared
// leases, plus push. It implements credential.Notifier, so that a
// rotate.Credential learns at once that its lease was renewed (a later
// Expires) or replaced (a new secret): the #username and #password
// credentials of one path then move to the new lease together. Refs that
// are not dynamic secrets fail with ErrInvalid.
type Leases struct{ p *Provider }

var (
	_ credential.Provider       = (*Leases)(nil)
	_ credential.VersionChecker = (*Leases)(nil)
	_ credential.Notifier       = (*Leases)(nil)
	_ credential.Describer      = (*Leases)(nil)
)

// Leases returns the view of p for dynamic secrets (always the same
// value).
func (p *Provider) Leases() *Leases { return p.view }

func (l *Leases) ref(ctx context.Context, refStr string) (ref, error) {
	r, err := parseRef(refStr)
	if err != nil {
		return r, err
	}
	if r.token {
		return r, nil
	}
	mi, _, err := l.p.target(ctx, r)
	if err != nil {
		return r, err
	}
	if mi.kind != kindDynamic {
		return r, invalid("fetch", r.safe, "not a dynamic secret (a KV path): use the Provider itself")
	}
	return r, nil
}

// Fetch is Provider.Fetch for dynamic secrets and TokenRef.
func (l *Leases) Fetch(ctx context.Context, refStr string) (credential.Version, error) {
	if err := ctx.Err(); err != nil {
		return credential.Version{}, err
	}
	r, err := l.ref(ctx, refStr)
	if err != nil {
		return credential.Version{}, err
	}
	if err := l.p.open("fetch", r); err != nil {
		return credential.Version{}, err
	}
	if r.token {
		return l.p.auth.version(ctx, r)
	}
	return l.p.leases.fetch(ctx, r)
}

// CurrentVersion answers from memory: the lease's ID and renewal count.
func (l *Leases) CurrentVersion(ctx context.Context, refStr string) (string, error) {
	v, err := l.Fetch(ctx, refStr)
	return v.ID, err
}

// Describe is Provider.Describe.
func (l *Leases) Describe(ctx context.Context, refStr string) (credential.Description, error) {
	if _, err := l.ref(ctx, refStr); err != nil {
		return credential.Description{}, err
	}
	return l.p.Describe(ctx, refStr)
}

// NotifyChange calls changed after each renewal or replacement of the
// lease behind ref (and, for TokenRef, after each login or renewal).
func (l *Leases) NotifyChange(refStr string, changed func()) (func(), error) {
	r, err := parseRef(refStr)
	if err != nil {
		return nil, err
	}
	if r.token {
		return l.p.leases.subscribe(tokenKey, changed), nil
	}
	return l.p.leases.subscribe(leaseKey(r.ns, r.path), changed), nil
}

// lazyTimer is a credential.Timer created at its first arm, so that no
// placeholder deadline is ever armed, and left alone when it is asked for
// the deadline it already has: a wake-up that changes no plan neither
// disarms nor re-arms it (a test clock that moves to the next armed timer
// sees a steady set of deadlines).
type lazyTimer struct {
	t     credential.Timer
	armed bool
	when  time.Time
}

// at arms the timer for the deadline when, unless it is armed for it
// already. The delay is computed from the clock after the old deadline is
// disarmed, so that time that passed meanwhile is not added to it.
func (l *lazyTimer) at(c credential.Clock, when time.Time) {
	if l.armed && l.when.Equal(when) {
		return
	}
	l.stop()
	d := max(when.Sub(c.Now()), 0)
	if l.t == nil {
		l.t = c.NewTimer(d)
	} else {
		l.t.Reset(d)
	}
	l.armed, l.when = true, when
}

// fired records that the timer's value was received.
func (l *lazyTimer) fired() { l.armed = false }

// stop disarms the timer and drops a value it may have sent.
func (l *lazyTimer) stop() {
	if l.t == nil {
		return
	}
	l.t.Stop()
	select {
	case <-l.t.C():
	default:
	}
	l.armed = false
}

// c returns the timer's channel, or nil (never ready) before the first arm.
func (l *lazyTimer) c() <-chan time.Time {
	if l.t == nil {
		return nil
	}
	return l.t.C()
}
