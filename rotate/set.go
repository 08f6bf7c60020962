package rotate

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/credkit/credkit/credential"
)

// Config names one credential of a [Set]: its name in the application, the
// URL it is loaded from, and its metadata.
type Config struct {
	Name     string              `json:"name"`
	URL      string              `json:"url"`
	Metadata credential.Metadata `json:"metadata"`
	// AllowEnvironment lets a credential whose metadata names another
	// environment than the Set's be opened anyway (a reviewed exception).
	AllowEnvironment bool `json:"allow_environment,omitempty"`
}

// Set holds many credentials opened together from a config, keeps them all
// current, and answers for them: an [Inventory], rotation reminders, shared
// key detection, an environment guard and a kill switch. It implements
// [credential.SecretSource], so a redactor can track every value it holds.
// It is safe for concurrent use.
type Set struct {
	o       options
	names   []string
	creds   map[string]*Credential
	schemes map[string]string
	desc    map[string]credential.Description

	mu        sync.Mutex
	changeFns listeners[func()]
	eventFns  listeners[func(Event)]
	shared    map[string][]string // name -> others with the same value
	sharedLog map[string]bool     // "a|b" pairs already logged
	reminded  map[string]string   // name -> "kind@due" last reminded

	groups  []*group
	unsubs  []func()
	closed  chan struct{}
	wg      sync.WaitGroup
	closing sync.Once
}

// Open opens every credential of cfgs through r (a *provider.URLMux) and
// starts keeping them current. It fails — closing what it opened — when a
// name is empty or repeated, a URL does not resolve, a credential's
// environment differs from the Set's ([WithEnvironment]) without
// AllowEnvironment, or a first fetch fails. Errors name the credential,
// never a value.
//
// The Set's options apply to every credential (interval, backoff, overlap,
// clock, logger...), plus [WithEnvironment] and [WithReminders].
func Open(ctx context.Context, r credential.Resolver, cfgs []Config, opts ...Option) (*Set, error) {
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	s := &Set{
		o: o, creds: map[string]*Credential{}, schemes: map[string]string{}, desc: map[string]credential.Description{},
		shared: map[string][]string{}, sharedLog: map[string]bool{}, reminded: map[string]string{},
		closed: make(chan struct{}),
	}
	fail := func(err error) (*Set, error) {
		for _, c := range s.creds {
			c.Close()
		}
		return nil, err
	}
	type resolved struct {
		cfg Config
		p   credential.Provider
		ref string
		md  credential.Metadata
	}
	var all []resolved
	seen := map[string]bool{}
	for _, cfg := range cfgs {
		if cfg.Name == "" {
			return fail(&credential.Error{Op: "open", Ref: cfg.URL, Kind: credential.ErrInvalid, Reason: "a credential needs a name"})
		}
		if seen[cfg.Name] {
			return fail(&credential.Error{Op: "open", Name: cfg.Name, Kind: credential.ErrInvalid, Reason: "name is used twice"})
		}
		seen[cfg.Name] = true
		if env := cfg.Metadata.Environment; o.environment != "" && env != "" && !strings.EqualFold(env, o.environment) && !cfg.AllowEnvironment {
			return fail(&credential.Error{Op: "open", Name: cfg.Name, Ref: cfg.URL, Kind: credential.ErrInvalid,
				Reason: "credential is for environment " + `"` + env + `"` + " but this service runs in " + `"` + o.environment + `"` + " (set AllowEnvironment to override)"})
		}
		p, ref, err := r.Resolve(ctx, cfg.URL)
		if err != nil {
			return fail(named(err, cfg.Name))
		}
		md := cfg.Metadata
		if d, ok := p.(credential.Describer); ok {
			if desc, err := d.Describe(ctx, ref); err == nil {
				md = md.Merge(desc.Metadata)
				s.desc[cfg.Name] = desc
				if env := md.Environment; o.environment != "" && env != "" && !strings.EqualFold(env, o.environment) && !cfg.AllowEnvironment {
					return fail(&credential.Error{Op: "open", Name: cfg.Name, Ref: cfg.URL, Kind: credential.ErrInvalid,
						Reason: "the backend tags the credential for environment " + `"` + env + `"` + " but this service runs in " + `"` + o.environment + `"`})
				}
			} else {
				o.logger.Warn("credkit: cannot describe credential", "credential", cfg.Name, "error_kind", credential.KindName(err))
			}
		}
		all = append(all, resolved{cfg, p, ref, md})
	}
	// Credentials whose provider can check many refs at once are polled
	// together, by one group per provider.
	groups := map[credential.Provider]*group{}
	var order []*group
	for _, rs := range all {
		if bvc, ok := rs.p.(credential.BatchVersionChecker); ok && reflect.TypeOf(rs.p).Comparable() {
			g := groups[rs.p]
			if g == nil {
				g = &group{set: s, p: rs.p, bvc: bvc, rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
				g.bf, _ = rs.p.(credential.BatchFetcher)
				groups[rs.p] = g
				order = append(order, g)
			}
			g.names = append(g.names, rs.cfg.Name)
		}
	}
	for _, rs := range all {
		co := o
		co.md = rs.md
		_, co.managed = rs.p.(credential.BatchVersionChecker)
		co.managed = co.managed && groups[rs.p] != nil
		c, err := watch(ctx, rs.cfg.Name, rs.p, rs.ref, co)
		if err != nil {
			return fail(named(err, rs.cfg.Name))
		}
		s.creds[rs.cfg.Name] = c
		s.names = append(s.names, rs.cfg.Name)
		scheme, _, _ := strings.Cut(rs.cfg.URL, "://")
		s.schemes[rs.cfg.Name] = strings.ToLower(scheme)
	}
	for _, g := range order {
		for _, n := range g.names {
			g.creds = append(g.creds, s.creds[n])
		}
		s.groups = append(s.groups, g)
	}
	sort.Strings(s.names)
	for _, name := range s.names {
		c := s.creds[name]
		c.mu.Lock()
		c.onChange = s.valuesChanged
		c.mu.Unlock()
		s.unsubs = append(s.unsubs, c.subscribe(s.relay, true))
	}
	s.detectShared()
	s.remind()
	s.wg.Add(1 + len(s.groups))
	go s.loop()
	for _, g := range s.groups {
		go g.run()
	}
	return s, nil
}

func named(err error, name string) error {
	var ce *credential.Error
	if errors.As(err, &ce) && ce.Name == "" {
		cp := *ce
		cp.Name = name
		return &cp
	}
	return err
}

// Names returns the credentials' names, sorted.
func (s *Set) Names() []string { return append([]string(nil), s.names...) }

// Credential returns the named credential, or nil when the Set has none by
// that name. Hand it to credential.Transport.
func (s *Set) Credential(name string) *Credential { return s.creds[name] }

// Get returns the current value of the named credential.
func (s *Set) Get(ctx context.Context, name string) (credential.Secret, error) {
	c, ok := s.creds[name]
	if !ok {
		return credential.Secret{}, &credential.Error{Op: "get", Name: name, Kind: credential.ErrNotFound, Reason: "no credential by that name in the set"}
	}
	return c.Get(ctx)
}

// Revoke turns the kill switch on for the named credential: Get fails with
// [credential.ErrRevoked] everywhere in the process at once, and the
// inventory shows it, until Restore.
func (s *Set) Revoke(name, reason string) error {
	c, ok := s.creds[name]
	if !ok {
		return &credential.Error{Op: "revoke", Name: name, Kind: credential.ErrNotFound, Reason: "no credential by that name in the set"}
	}
	c.Revoke(reason)
	return nil
}

// Restore turns the kill switch off for the named credential.
func (s *Set) Restore(name string) error {
	c, ok := s.creds[name]
	if !ok {
		return &credential.Error{Op: "restore", Name: name, Kind: credential.ErrNotFound, Reason: "no credential by that name in the set"}
	}
	c.Restore()
	return nil
}

// OnEvent registers f for every event of every credential of the Set:
// rotations, failures, recoveries, revocations, rotation reminders and
// shared keys. It returns a function that unregisters f.
func (s *Set) OnEvent(f func(Event)) (unregister func()) {
	return s.eventFns.add(f)
}

func (s *Set) relay(ev Event) {
	if ev.Kind == EventRotated {
		s.detectShared()
	}
	s.publish(ev)
}

func (s *Set) publish(ev Event) {
	for _, l := range s.eventFns.list() {
		l.f(ev)
	}
}

// Secrets implements [credential.SecretSource]: it yields every current
// value and every previous value still in its overlap window.
func (s *Set) Secrets(yield func(name string, sec credential.Secret) bool) {
	for _, name := range s.names {
		c := s.creds[name]
		if v, ok := c.Version(); ok && !yield(name, v.Secret) {
			return
		}
		if p, ok := c.Previous(); ok && !yield(name, p.Secret) {
			return
		}
	}
}

// OnChange implements [credential.SecretSource]: f is called after a
// rotation and after a previous version leaves its overlap window.
func (s *Set) OnChange(f func()) (unregister func()) {
	return s.changeFns.add(f)
}

func (s *Set) valuesChanged() {
	for _, l := range s.changeFns.list() {
		l.f()
	}
}

// detectShared finds credentials holding the same value (equal
// fingerprints) and logs each new pair once.
func (s *Set) detectShared() {
	byFP := map[string][]string{}
	for _, name := range s.names {
		if v, ok := s.creds[name].Version(); ok {
			fp := v.Secret.Fingerprint()
			byFP[fp] = append(byFP[fp], name)
		}
	}
	shared := map[string][]string{}
	var fresh [][]string
	s.mu.Lock()
	for _, names := range byFP {
		if len(names) < 2 {
			continue
		}
		for _, n := range names {
			for _, m := range names {
				if m != n {
					shared[n] = append(shared[n], m)
				}
			}
		}
		key := strings.Join(names, "|")
		if !s.sharedLog[key] {
			s.sharedLog[key] = true
			fresh = append(fresh, names)
		}
	}
	s.shared = shared
	s.mu.Unlock()
	for _, names := range fresh {
		s.o.logger.Warn("credkit: credentials share one value; rotating one breaks the others", "credentials", names)
		for _, n := range names {
			s.publish(Event{Kind: EventShared, Name: n, Time: s.o.clock.Now(), With: shared[n]})
		}
	}
}

// loop evaluates reminders periodically.
func (s *Set) loop() {
	defer s.wg.Done()
	t := s.o.clock.NewTimer(s.o.reminderEvery)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C():
			s.remind()
			t.Reset(s.o.reminderEvery)
		}
	}
}

// remind publishes a reminder event, and logs a warning, once per
// credential and due date when it enters its reminder window and again when
// it becomes overdue.
func (s *Set) remind() {
	now := s.o.clock.Now()
	for _, it := range s.Inventory().Credentials {
		var kind EventKind
		switch {
		case it.Overdue:
			kind = EventRotationOverdue
		case it.DueSoon:
			kind = EventRotationDue
		default:
			continue
		}
		key := string(kind) + "@" + it.RotationDue.Format(time.RFC3339)
		s.mu.Lock()
		seen := s.reminded[it.Name] == key
		s.reminded[it.Name] = key
		s.mu.Unlock()
		if seen {
			continue
		}
		s.o.logger.Warn("credkit: credential rotation "+strings.TrimPrefix(string(kind), "rotation_"), "credential", it.Name, "due", it.RotationDue, "owner", it.Metadata.Owner)
		s.publish(Event{Kind: kind, Name: it.Name, Time: now, Due: it.RotationDue})
	}
}

// Close stops every credential and the Set's own goroutine, and waits for
// them. It is idempotent.
func (s *Set) Close() error {
	s.closing.Do(func() {
		close(s.closed)
		s.wg.Wait()
		for _, u := range s.unsubs {
			u()
		}
		for _, c := range s.creds {
			c.Close()
		}
	})
	return nil
}
