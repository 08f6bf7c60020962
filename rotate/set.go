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
	ctx     context.Context // of the groups' polls; Close cancels it
	cancel  context.CancelFunc
	closed  chan struct{}
	wg      sync.WaitGroup
	closing sync.Once
}

// Open opens every credential of cfgs through r (a *provider.URLMux) and
// starts keeping them current. It fails — closing what it opened — when r
// is nil, a name is empty or repeated, a URL does not resolve, a
// credential's environment differs from the Set's ([WithEnvironment])
// without AllowEnvironment, or a first fetch fails. Errors name the
// credential, never a value.
//
// Open asks each backend as few times as it can: refs served by one
// provider that describes or fetches in batches
// ([credential.BatchDescriber], [credential.BatchFetcher], as AWS does) are
// described and fetched together — about ⌈N/100⌉ + ⌈N/20⌉ calls for N AWS
// secrets — and the calls that remain run at most 8 at a time.
//
// The Set's options apply to every credential (interval, backoff, overlap,
// clock, logger...), plus [WithEnvironment] and [WithReminders].
func Open(ctx context.Context, r credential.Resolver, cfgs []Config, opts ...Option) (*Set, error) {
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	if isNil(r) {
		return nil, &credential.Error{Op: "open", Kind: credential.ErrInvalid, Reason: "no resolver (nil)"}
	}
	s := &Set{
		o: o, creds: map[string]*Credential{}, schemes: map[string]string{}, desc: map[string]credential.Description{},
		shared: map[string][]string{}, sharedLog: map[string]bool{}, reminded: map[string]string{},
		closed: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	fail := func(err error) (*Set, error) {
		s.cancel()
		for _, c := range s.creds {
			c.Close()
		}
		return nil, err
	}
	type resolved struct {
		cfg   Config
		p     credential.Provider
		ref   string
		md    credential.Metadata
		first *credential.Version
		c     *Credential
		err   error
	}
	all := make([]*resolved, 0, len(cfgs))
	seen := map[string]bool{}
	for _, cfg := range cfgs {
		if cfg.Name == "" {
			return fail(&credential.Error{Op: "open", Ref: credential.SafeRef(cfg.URL), Kind: credential.ErrInvalid, Reason: "a credential needs a name"})
		}
		if seen[cfg.Name] {
			return fail(&credential.Error{Op: "open", Name: cfg.Name, Kind: credential.ErrInvalid, Reason: "name is used twice"})
		}
		seen[cfg.Name] = true
		if env := cfg.Metadata.Environment; o.environment != "" && env != "" && !strings.EqualFold(env, o.environment) && !cfg.AllowEnvironment {
			return fail(&credential.Error{Op: "open", Name: cfg.Name, Ref: credential.SafeRef(cfg.URL), Kind: credential.ErrInvalid,
				Reason: "credential is for environment " + `"` + env + `"` + " but this service runs in " + `"` + o.environment + `"` + " (set AllowEnvironment to override)"})
		}
		p, ref, err := r.Resolve(ctx, cfg.URL)
		if err != nil {
			return fail(named(err, cfg.Name))
		}
		if isNil(p) {
			return fail(&credential.Error{Op: "open", Name: cfg.Name, Ref: credential.SafeRef(cfg.URL), Kind: credential.ErrInvalid, Reason: "the resolver returned no provider"})
		}
		all = append(all, &resolved{cfg: cfg, p: p, ref: ref, md: cfg.Metadata})
	}

	// byProvider groups the refs served by one comparable provider that has
	// capability ok, in config order.
	byProvider := func(ok func(credential.Provider) bool) (order []credential.Provider, refs map[credential.Provider][]*resolved) {
		refs = map[credential.Provider][]*resolved{}
		for _, rs := range all {
			if !ok(rs.p) || !reflect.TypeOf(rs.p).Comparable() {
				continue
			}
			if refs[rs.p] == nil {
				order = append(order, rs.p)
			}
			refs[rs.p] = append(refs[rs.p], rs)
		}
		return order, refs
	}

	// Describe: in batches where the backend can, alone otherwise.
	descs := make([]*credential.Description, len(all))
	index := map[*resolved]int{}
	for i, rs := range all {
		index[rs] = i
	}
	order, refs := byProvider(func(p credential.Provider) bool { _, ok := p.(credential.BatchDescriber); return ok })
	for _, p := range order {
		names := make([]string, len(refs[p]))
		for i, rs := range refs[p] {
			names[i] = rs.ref
		}
		got, err := p.(credential.BatchDescriber).DescribeBatch(ctx, names)
		if err != nil {
			o.logger.Warn("credkit: cannot describe credentials in a batch; describing each", "error_kind", credential.KindName(err))
			continue
		}
		for _, rs := range refs[p] {
			if d, ok := got[rs.ref]; ok {
				descs[index[rs]] = &d
			}
		}
	}
	parallel(len(all), func(i int) {
		rs := all[i]
		d, ok := rs.p.(credential.Describer)
		if descs[i] != nil || !ok {
			return
		}
		desc, err := d.Describe(ctx, rs.ref)
		if err != nil {
			o.logger.Warn("credkit: cannot describe credential", "credential", rs.cfg.Name, "error_kind", credential.KindName(err))
			return
		}
		descs[i] = &desc
	})
	for i, rs := range all {
		if descs[i] == nil {
			continue
		}
		rs.md = rs.md.Merge(descs[i].Metadata)
		s.desc[rs.cfg.Name] = *descs[i]
		if env := rs.md.Environment; o.environment != "" && env != "" && !strings.EqualFold(env, o.environment) && !rs.cfg.AllowEnvironment {
			return fail(&credential.Error{Op: "open", Name: rs.cfg.Name, Ref: credential.SafeRef(rs.cfg.URL), Kind: credential.ErrInvalid,
				Reason: "the backend tags the credential for environment " + `"` + env + `"` + " but this service runs in " + `"` + o.environment + `"`})
		}
	}

	// First values: in batches of 20 where the backend can, a few batches
	// at a time.
	order, refs = byProvider(func(p credential.Provider) bool { _, ok := p.(credential.BatchFetcher); return ok })
	var chunks [][]*resolved
	for _, p := range order {
		for rest := refs[p]; len(rest) > 0; {
			n := min(firstBatch, len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
	}
	parallel(len(chunks), func(i int) {
		chunk := chunks[i]
		names := make([]string, len(chunk))
		for j, rs := range chunk {
			names[j] = rs.ref
		}
		fctx, cancel := context.WithTimeout(ctx, o.fetchTimeout)
		got, err := chunk[0].p.(credential.BatchFetcher).FetchBatch(fctx, names)
		cancel()
		if err != nil {
			return // each is fetched alone, which reports the error
		}
		for _, rs := range chunk {
			if v, ok := got[rs.ref]; ok {
				rs.first = &v
			}
		}
	})

	// Credentials whose provider can check many refs at once are polled
	// together, by one group per provider.
	groups := map[credential.Provider]*group{}
	order, refs = byProvider(func(p credential.Provider) bool { _, ok := p.(credential.BatchVersionChecker); return ok })
	for _, p := range order {
		g := &group{set: s, p: p, bvc: p.(credential.BatchVersionChecker), rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
		g.bf, _ = p.(credential.BatchFetcher)
		for _, rs := range refs[p] {
			g.names = append(g.names, rs.cfg.Name)
		}
		groups[p] = g
		s.groups = append(s.groups, g)
	}
	parallel(len(all), func(i int) {
		rs := all[i]
		co := o
		co.md = rs.md
		co.managed = isComparable(rs.p) && groups[rs.p] != nil
		rs.c, rs.err = watch(ctx, rs.cfg.Name, rs.p, rs.ref, co, rs.first)
	})
	var firstErr error
	for _, rs := range all {
		if rs.c != nil {
			s.creds[rs.cfg.Name] = rs.c
		}
		if rs.err != nil && firstErr == nil {
			firstErr = named(rs.err, rs.cfg.Name)
		}
	}
	if firstErr != nil {
		return fail(firstErr)
	}
	for _, rs := range all {
		s.names = append(s.names, rs.cfg.Name)
		scheme, _, _ := strings.Cut(rs.cfg.URL, "://")
		s.schemes[rs.cfg.Name] = strings.ToLower(scheme)
	}
	for _, g := range s.groups {
		for _, n := range g.names {
			g.creds = append(g.creds, s.creds[n])
		}
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

// firstBatch is how many refs Open fetches in one batch call (AWS
// BatchGetSecretValue takes 20).
const firstBatch = 20

// openConcurrency bounds the backend calls Open makes at once.
const openConcurrency = 8

// parallel runs f(0..n-1), at most openConcurrency at a time, and waits.
func parallel(n int, f func(i int)) {
	sem := make(chan struct{}, openConcurrency)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// isComparable reports whether p can key a map.
func isComparable(p credential.Provider) bool { return reflect.TypeOf(p).Comparable() }

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

// Credential returns the named credential, to hand to
// credential.Transport or a health check. A name the Set does not hold is
// an error wrapping [credential.ErrNotFound], so a typo fails where the
// service is wired, not at its first request.
func (s *Set) Credential(name string) (*Credential, error) {
	c, ok := s.creds[name]
	if !ok {
		return nil, &credential.Error{Op: "credential", Name: name, Kind: credential.ErrNotFound, Reason: "no credential by that name in the set"}
	}
	return c, nil
}

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
		for _, v := range c.incoming() {
			if !yield(name, v.Secret) {
				return
			}
		}
	}
}

// OnChange implements [credential.SecretSource]: f is called when a
// rotation brings a new value — before the value is published, so that a
// tracking redactor knows it before any Get, subscriber or log can see it
// (Secrets already yields it when f runs) — and after a previous version
// leaves its overlap window. f runs with no lock held.
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
		s.cancel()
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
