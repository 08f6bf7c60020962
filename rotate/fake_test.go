package rotate_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credkit/credkit/credential"
)

// fakeBackend is an in-memory secret store: versions per ref, injectable
// failures, a gate that holds fetches, and call counters.
type fakeBackend struct {
	mu       sync.Mutex
	vals     map[string]credential.Version
	seq      int
	err      error
	desc     map[string]credential.Description
	fetches  atomic.Int32
	checks   atomic.Int32
	gate     chan struct{} // when set, Fetch waits on it
	entered  chan struct{} // when set, a gated Fetch sends on it once waiting
	notifyFn func()
}

func newBackend() *fakeBackend {
	return &fakeBackend{vals: map[string]credential.Version{}, desc: map[string]credential.Description{}}
}

func (b *fakeBackend) set(ref, value string, mods ...func(*credential.Version)) {
	b.mu.Lock()
	b.seq++
	v := credential.Version{Secret: credential.NewSecret(value), ID: "v" + strconv.Itoa(b.seq)}
	for _, m := range mods {
		m(&v)
	}
	b.vals[ref] = v
	f := b.notifyFn
	b.mu.Unlock()
	if f != nil {
		f()
	}
}

// hold makes every Fetch wait until the returned release is called; each
// waiting Fetch is announced on entered.
func (b *fakeBackend) hold() (entered <-chan struct{}, release func()) {
	gate, in := make(chan struct{}), make(chan struct{}, 16)
	b.mu.Lock()
	b.gate, b.entered = gate, in
	b.mu.Unlock()
	var once sync.Once
	return in, func() {
		once.Do(func() {
			b.mu.Lock()
			b.gate, b.entered = nil, nil
			b.mu.Unlock()
			close(gate)
		})
	}
}

func (b *fakeBackend) fail(err error) {
	b.mu.Lock()
	b.err = err
	b.mu.Unlock()
}

func (b *fakeBackend) Fetch(ctx context.Context, ref string) (credential.Version, error) {
	b.fetches.Add(1)
	b.mu.Lock()
	gate, entered := b.gate, b.entered
	b.mu.Unlock()
	if gate != nil {
		if entered != nil {
			entered <- struct{}{}
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return credential.Version{}, ctx.Err()
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return credential.Version{}, b.err
	}
	v, ok := b.vals[ref]
	if !ok {
		return credential.Version{}, &credential.Error{Op: "fetch", Ref: ref, Kind: credential.ErrNotFound}
	}
	return v, nil
}

// checked adds the cheap version check.
type checked struct{ *fakeBackend }

func (c checked) CurrentVersion(ctx context.Context, ref string) (string, error) {
	c.checks.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return "", c.err
	}
	v, ok := c.vals[ref]
	if !ok {
		return "", &credential.Error{Op: "check", Ref: ref, Kind: credential.ErrNotFound}
	}
	return v.ID, nil
}

// described adds backend metadata.
type described struct{ *fakeBackend }

func (d described) Describe(ctx context.Context, ref string) (credential.Description, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.desc[ref], nil
}

// resolver maps "fake://ref" URLs to one backend.
type resolver struct{ p credential.Provider }

func (r resolver) Resolve(ctx context.Context, raw string) (credential.Provider, string, error) {
	const prefix = "fake://"
	if len(raw) <= len(prefix) || raw[:len(prefix)] != prefix {
		return nil, "", &credential.Error{Op: "open", Ref: raw, Kind: credential.ErrInvalid, Reason: "unknown scheme"}
	}
	return r.p, raw[len(prefix):], nil
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// same reports whether s holds want, without printing either.
func same(s credential.Secret, want string) bool { return s.Reveal() == want }
