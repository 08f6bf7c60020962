package degrade

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credkit/credkit/credential"
)

// KeyStatus is the state of one key of a [Pool].
type KeyStatus int

const (
	// KeyReady: the key takes requests.
	KeyReady KeyStatus = iota
	// KeyCooling: the provider answered 429 with this key; it is skipped until
	// its Retry-After has passed.
	KeyCooling
	// KeyQuarantined: the provider rejected the key (401/403) or said its
	// quota is exhausted, and a refresh gave no new value; it is skipped
	// until the quarantine ends or a refresh changes it.
	KeyQuarantined
)

// String returns "ready", "cooling" or "quarantined".
func (s KeyStatus) String() string {
	switch s {
	case KeyReady:
		return "ready"
	case KeyCooling:
		return "cooling"
	case KeyQuarantined:
		return "quarantined"
	}
	return "status(" + itoa(int(s)) + ")"
}

// KeyState describes one key for health and dashboards. It holds no secret.
type KeyState struct {
	// Name is the key credential's name.
	Name string
	// Status and, when not ready, Until: when it is tried again; Reason: the
	// outcome that took it out (Retryable for a 429, Rejected, Quota).
	Status KeyStatus
	Until  time.Time
	Reason Class
	// Uses counts the requests sent with the key.
	Uses int64
}

type poolKey struct {
	cred   credential.Credential
	weight int
	cur    int // smooth weighted round robin
	until  time.Time
	status KeyStatus
	reason Class
	uses   atomic.Int64
}

// Pool is a [credential.Credential] made of several keys for one provider
// (several API keys raise a rate limit). Used through a [RoundTripper] with
// [WithPool], it picks a key per request (round robin, or weighted with
// [WithWeights]), skips a key after a 429 until its Retry-After has passed,
// quarantines a key after a 401, 403 or quota error across requests (asking
// the key to refresh first, when it implements credential.Refresher), and
// reports every key's state ([Pool.Keys], [Pool.Check], [Pool.KeyCheck]).
//
// Used as a plain Credential (Get), it hands out the next usable key without
// feedback.
//
// A Pool is safe for concurrent use.
type Pool struct {
	name string
	o    options
	mu   sync.Mutex
	keys []*poolKey
	next int
}

var _ credential.Credential = (*Pool)(nil)

// NewPool returns a pool of keys named name. It reads [WithClock],
// [WithLogger], [WithWeights] (round robin) and [WithQuarantine] (10 min).
// It fails with credential.ErrInvalid when keys is empty or the weights do
// not match the keys.
func NewPool(name string, keys []credential.Credential, opts ...Option) (*Pool, error) {
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
	defer p.mu.Unlock()
	var earliest time.Time
	quarantined := 0
	ready := 0
	for _, k := range p.keys {
		if k.status != KeyReady && !now.Before(k.until) {
			p.setStatusLocked(k, KeyReady, Success, time.Time{})
		}
		switch k.status {
		case KeyReady:
			ready++
		case KeyQuarantined:
			quarantined++
			if earliest.IsZero() || k.until.Before(earliest) {
				earliest = k.until
			}
		case KeyCooling:
			if earliest.IsZero() || k.until.Before(earliest) {
				earliest = k.until
			}
		}
	}
	if ready == 0 {
		if quarantined == len(p.keys) {
			return nil, earliest, &Error{Dependency: p.name, Kind: ErrNoKey}
		}
		return nil, earliest, &Error{Dependency: p.name, Kind: ErrRateLimited, RetryAfter: earliest.Sub(now)}
	}
	var k *poolKey
	if p.o.weights == nil {
		for i := 0; i < len(p.keys); i++ {
			c := p.keys[(p.next+i)%len(p.keys)]
			if c.status == KeyReady {
				k = c
				p.next = (p.next + i + 1) % len(p.keys)
				break
			}
		}
	} else {
		total := 0
		for _, c := range p.keys {
			if c.status != KeyReady {
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
	defer p.mu.Unlock()
	for _, c := range p.keys {
		if c != k && (c.status == KeyReady || !now.Before(c.until)) {
			return true, 0
		}
		if c.status == KeyCooling && (wait == 0 || c.until.Sub(now) < wait) {
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
	until := p.o.clock.Now().Add(d)
	p.mu.Lock()
	defer p.mu.Unlock()
	if k.status == KeyQuarantined || (k.status == KeyCooling && !until.After(k.until)) {
		return
	}
	p.setStatusLocked(k, KeyCooling, Retryable, until)
}

// reject handles a 401/403/quota answer for k: it asks the key to refresh;
// when the value changed the key stays in rotation and reject returns true.
// Otherwise the key is quarantined.
func (p *Pool) reject(ctx context.Context, k *poolKey, sent credential.Secret, c Class) bool {
	if c == Rejected {
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
	p.setStatusLocked(k, KeyQuarantined, c, until)
	p.mu.Unlock()
	return false
}

func (p *Pool) setStatusLocked(k *poolKey, s KeyStatus, reason Class, until time.Time) {
	prev := k.status
	k.status, k.reason, k.until = s, reason, until
	if prev == s {
		return
	}
	switch s {
	case KeyQuarantined:
		p.o.logger.Error("degrade: key quarantined", "pool", p.name, "key", k.cred.Name(), "outcome", reason.String(), "until", until)
	case KeyCooling:
		p.o.logger.Warn("degrade: key cooling down", "pool", p.name, "key", k.cred.Name(), "until", until)
	default:
		p.o.logger.Info("degrade: key back in rotation", "pool", p.name, "key", k.cred.Name())
	}
}

// Keys returns every key's state, in the order the keys were given.
func (p *Pool) Keys() []KeyState {
	now := p.o.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]KeyState, len(p.keys))
	for i, k := range p.keys {
		if k.status != KeyReady && !now.Before(k.until) {
			p.setStatusLocked(k, KeyReady, Success, time.Time{})
		}
		out[i] = KeyState{Name: k.cred.Name(), Status: k.status, Until: k.until, Reason: k.reason, Uses: k.uses.Load()}
	}
	return out
}

// Check is the pool's health check: an error matching [ErrNoKey] when every
// key is quarantined, nil otherwise (cooling keys are a normal condition).
func (p *Pool) Check(ctx context.Context) error {
	for _, k := range p.Keys() {
		if k.Status != KeyQuarantined {
			return nil
		}
	}
	return &Error{Dependency: p.name, Kind: ErrNoKey}
}

// KeyCheck returns the health check of the named key: an error matching
// [ErrCredentialRejected] or [ErrQuotaExhausted] while it is quarantined,
// nil otherwise (also for an unknown name).
func (p *Pool) KeyCheck(name string) func(context.Context) error {
	return func(ctx context.Context) error {
		for _, k := range p.Keys() {
			if k.Name != name || k.Status != KeyQuarantined {
				continue
			}
			kind := ErrCredentialRejected
			if k.Reason == Quota {
				kind = ErrQuotaExhausted
			}
			return &Error{Dependency: p.name + "/" + name, Kind: kind, RetryAfter: k.Until.Sub(p.o.clock.Now())}
		}
		return nil
	}
}
