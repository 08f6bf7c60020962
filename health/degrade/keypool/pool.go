package keypool

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
)

// Status is the state of one key of a [Pool].
type Status int

const (
	// Ready: the key takes requests.
	Ready Status = iota
	// Cooling: the provider answered 429 with this key, or its rate-limit
	// headers said its remaining budget is 0; it is skipped until its
	// Retry-After or reset has passed.
	Cooling
	// Quarantined: the provider rejected the key (401/403) or said its
	// quota is exhausted, and a refresh gave no new value; it is skipped
	// until the quarantine ends or a refresh changes it.
	Quarantined
)

// String returns "ready", "cooling" or "quarantined".
func (s Status) String() string {
	switch s {
	case Ready:
		return "ready"
	case Cooling:
		return "cooling"
	case Quarantined:
		return "quarantined"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// KeyState describes one key for health and dashboards. It holds no secret.
type KeyState struct {
	// Name is the key credential's name.
	Name string
	// Status and, when not ready, Until: when it is tried again; Reason: the
	// outcome that took it out (Retryable for a 429 or a spent budget,
	// Rejected, Quota).
	Status Status
	Until  time.Time
	Reason degrade.Class
	// Uses counts the requests sent with the key.
	Uses int64
}

type poolKey struct {
	cred   credential.Credential
	weight int
	cur    int // smooth weighted round robin
	until  time.Time
	status Status
	reason degrade.Class
	uses   atomic.Int64
}

// Pool is a [credential.Credential] made of several keys for one provider
// (several API keys raise a rate limit). Used through a [Transport], it
// picks a key per request (round robin, or weighted with [WithWeights]),
// skips a key after a 429 until its Retry-After has passed and a key whose
// rate-limit headers say its budget is spent until the reset, quarantines a
// key after a 401, 403 or quota error across requests (asking the key to
// refresh first, when it implements credential.Refresher), and reports
// every key's state ([Pool.Keys], [Pool.Check], [Pool.KeyCheck]).
//
// Used as a plain Credential (Get), it hands out the next usable key without
// feedback.
//
// A Pool is safe for concurrent use.
type Pool struct {
	name string
	o    options
	mu   sync.Mutex
	logs []func() // run by unlock, after the lock is released
	keys []*poolKey
	next int
}

var _ credential.Credential = (*Pool)(nil)

// New returns a pool of keys named name. Options and their defaults:
// [WithClock] (credential.SystemClock), [WithLogger] (nowhere),
// [WithWeights] (plain round robin) and [WithQuarantine] (10 min). It fails
// with credential.ErrInvalid when keys is empty or the weights do not match
// the keys.
func New(name string, keys []credential.Credential, opts ...Option) (*Pool, error) {
	o := build(opts)
	if len(keys) == 0 {
		return nil, credential.NewError("pool", credential.ErrInvalid, "", "no keys", nil)
	}
	if o.weights != nil && len(o.weights) != len(keys) {
		return nil, credential.NewError("pool", credential.ErrInvalid, "", "weights do not match keys", nil)
	}
	p := &Pool{name: name, o: o}
	for i, k := range keys {
		w := 1
		if o.weights != nil {
			w = o.weights[i]
			if w <= 0 {
				return nil, credential.NewError("pool", credential.ErrInvalid, "", "weights must be positive", nil)
			}
		}
		p.keys = append(p.keys, &poolKey{cred: k, weight: w})
	}
	return p, nil
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.name }

// Metadata returns the first key's metadata with the pool's name.
func (p *Pool) Metadata() credential.Metadata {
	md := p.keys[0].cred.Metadata()
	md.Name = p.name
	return md
}

// Get returns the value of the next usable key.
func (p *Pool) Get(ctx context.Context) (credential.Secret, error) {
	k, _, err := p.pick()
	if err != nil {
		return credential.Secret{}, err
	}
	return k.cred.Get(ctx)
}

// pick returns the next usable key; when none is, the earliest time one will
// be (zero when all are quarantined) and an error.
func (p *Pool) pick() (*poolKey, time.Time, error) {
	now := p.o.clock.Now()
	p.mu.Lock()
	defer p.unlock()
	var earliest time.Time
	quarantined := 0
	ready := 0
	for _, k := range p.keys {
		if k.status != Ready && !now.Before(k.until) {
			p.setStatusLocked(k, Ready, degrade.Success, time.Time{})
		}
		switch k.status {
		case Ready:
			ready++
		case Quarantined:
			quarantined++
			if earliest.IsZero() || k.until.Before(earliest) {
				earliest = k.until
			}
		case Cooling:
			if earliest.IsZero() || k.until.Before(earliest) {
				earliest = k.until
			}
		}
	}
	if ready == 0 {
		if quarantined == len(p.keys) {
			return nil, earliest, &degrade.Error{Dependency: p.name, Kind: ErrNoKey}
		}
		return nil, earliest, &degrade.Error{Dependency: p.name, Kind: degrade.ErrRateLimited, RetryAfter: earliest.Sub(now)}
	}
	var k *poolKey
	if p.o.weights == nil {
		for i := 0; i < len(p.keys); i++ {
			c := p.keys[(p.next+i)%len(p.keys)]
			if c.status == Ready {
				k = c
				p.next = (p.next + i + 1) % len(p.keys)
				break
			}
		}
	} else {
		total := 0
		for _, c := range p.keys {
			if c.status != Ready {
				continue
			}
			c.cur += c.weight
			total += c.weight
			if k == nil || c.cur > k.cur {
				k = c
			}
		}
		k.cur -= total
	}
	k.uses.Add(1)
	return k, time.Time{}, nil
}

// otherReady reports whether a key other than k is ready now; when none is,
// wait is how long until the first cooling key is (0 when none cools).
func (p *Pool) otherReady(k *poolKey) (ok bool, wait time.Duration) {
	now := p.o.clock.Now()
	p.mu.Lock()
	defer p.unlock()
	for _, c := range p.keys {
		if c != k && (c.status == Ready || !now.Before(c.until)) {
			return true, 0
		}
		if c.status == Cooling && (wait == 0 || c.until.Sub(now) < wait) {
			wait = c.until.Sub(now)
		}
	}
	return false, wait
}

// cool takes k out until d has passed (a 429).
func (p *Pool) cool(k *poolKey, d time.Duration) {
	if d <= 0 {
		d = time.Second
	}
	p.coolUntil(k, p.o.clock.Now().Add(d))
}

// coolUntil takes k out until the time given (a 429, or a spent budget).
func (p *Pool) coolUntil(k *poolKey, until time.Time) {
	p.mu.Lock()
	defer p.unlock()
	if k.status == Quarantined || (k.status == Cooling && !until.After(k.until)) {
		return
	}
	p.setStatusLocked(k, Cooling, degrade.Retryable, until)
}

// reject handles a 401/403/quota answer for k: it asks the key to refresh;
// when the value changed the key stays in rotation and reject returns true.
// Otherwise the key is quarantined.
func (p *Pool) reject(ctx context.Context, k *poolKey, sent credential.Secret, c degrade.Class) bool {
	if c == degrade.Rejected {
		// Another request may have refreshed the key already.
		if s, err := k.cred.Get(ctx); err == nil && !s.Equal(sent) {
			return true
		}
		if r, ok := k.cred.(credential.Refresher); ok {
			if changed, err := r.Refresh(ctx); err == nil && changed {
				return true
			}
		}
	}
	until := p.o.clock.Now().Add(p.o.quarantine)
	p.mu.Lock()
	p.setStatusLocked(k, Quarantined, c, until)
	p.unlock()
	return false
}

func (p *Pool) setStatusLocked(k *poolKey, s Status, reason degrade.Class, until time.Time) {
	prev := k.status
	k.status, k.reason, k.until = s, reason, until
	if prev == s {
		return
	}
	l, name := p.o.logger, k.cred.Name()
	switch s {
	case Quarantined:
		p.logs = append(p.logs, func() {
			l.Error("keypool: key quarantined", "pool", p.name, "key", name, "outcome", reason.String(), "until", until)
		})
	case Cooling:
		p.logs = append(p.logs, func() { l.Warn("keypool: key cooling down", "pool", p.name, "key", name, "until", until) })
	default:
		p.logs = append(p.logs, func() { l.Info("keypool: key back in rotation", "pool", p.name, "key", name) })
	}
}

// unlock releases the lock, then logs the key state changes made under it:
// no lock is held across a call into the logger's handler.
func (p *Pool) unlock() {
	logs := p.logs
	p.logs = nil
	p.mu.Unlock()
	for _, f := range logs {
		f()
	}
}

// Keys returns every key's state, in the order the keys were given.
func (p *Pool) Keys() []KeyState {
	now := p.o.clock.Now()
	p.mu.Lock()
	defer p.unlock()
	out := make([]KeyState, len(p.keys))
	for i, k := range p.keys {
		if k.status != Ready && !now.Before(k.until) {
			p.setStatusLocked(k, Ready, degrade.Success, time.Time{})
		}
		out[i] = KeyState{Name: k.cred.Name(), Status: k.status, Until: k.until, Reason: k.reason, Uses: k.uses.Load()}
	}
	return out
}

// Check is the pool's health check: an error matching [ErrNoKey] when every
// key is quarantined, nil otherwise (cooling keys are a normal condition).
func (p *Pool) Check(ctx context.Context) error {
	for _, k := range p.Keys() {
		if k.Status != Quarantined {
			return nil
		}
	}
	return &degrade.Error{Dependency: p.name, Kind: ErrNoKey}
}

// sentinel is an error value that also matches a credential sentinel.
type sentinel struct {
	msg  string
	kind error
}

func (s *sentinel) Error() string        { return s.msg }
func (s *sentinel) Is(target error) bool { return target == s.kind }

// ErrNoKey: every key of a [Pool] is quarantined. It is the Kind of a
// [*degrade.Error] and matches credential.ErrPermission.
var ErrNoKey error = &sentinel{"no usable key", credential.ErrPermission}

// KeyCheck returns the health check of the named key: an error matching
// [ErrCredentialRejected] or [ErrQuotaExhausted] while it is quarantined,
// nil otherwise (also for an unknown name).
func (p *Pool) KeyCheck(name string) func(context.Context) error {
	return func(ctx context.Context) error {
		for _, k := range p.Keys() {
			if k.Name != name || k.Status != Quarantined {
				continue
			}
			kind := degrade.ErrCredentialRejected
			if k.Reason == degrade.Quota {
				kind = degrade.ErrQuotaExhausted
			}
			return &degrade.Error{Dependency: p.name + "/" + name, Kind: kind, RetryAfter: k.Until.Sub(p.o.clock.Now())}
		}
		return nil
	}
}
