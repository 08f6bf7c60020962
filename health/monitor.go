package health

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credkit/credkit/credential"
)

// Monitor runs checks in the background, each on its own interval with its
// timeout, and caches their latest results. Serving results never runs a
// check: a storm of probes costs no call to a secret manager or a model
// provider. Checks start pending. Listeners hear of every change of a
// check's status. All methods are safe for concurrent use.
//
// A run of a check costs the same whatever the number of checks: it stores
// its own result. The snapshot that serving reads is rebuilt, under one
// writer lock, only when it is read after a result changed, so an older
// snapshot is never stored over a newer one. A check never runs twice at
// once: while a run that ignored its timeout is still going, the next runs
// fail without starting another.
type Monitor struct {
	clock    credential.Clock
	logger   *slog.Logger
	sanitize func(string) string

	checks []*entry
	byName map[string]*entry

	ver   atomic.Uint64             // bumped after every stored result
	snap  atomic.Pointer[published] // the latest snapshot built
	pubMu sync.Mutex                // the writer lock of snap

	mu        sync.Mutex
	listeners map[int]func(Change)
	nextID    int

	ctx     context.Context // of every run; Close cancels it
	cancel  context.CancelFunc
	closed  chan struct{}
	wg      sync.WaitGroup // loops and the runs they started
	closing sync.Once
}

// published is a snapshot of every result, sorted by key, as of version
// ver of the results.
type published struct {
	ver   uint64
	views []View
}

type entry struct {
	c    Check
	res  atomic.Pointer[Result]
	kick chan struct{}
	// running is closed when the last run started returns; nil when none
	// is going. Only the entry's loop touches it.
	running chan struct{}
}

// View is a check with its latest result.
type View struct {
	Check  Check
	Result Result
}

// Change tells a listener that a check's status changed.
type Change struct {
	Name     string
	From, To Status
	Result   Result
}

// MonitorOption configures a [Monitor].
type MonitorOption func(*Monitor)

// WithClock sets the clock of the monitor's timers (default
// credential.SystemClock).
func WithClock(c credential.Clock) MonitorOption {
	return func(m *Monitor) { m.clock = credential.ClockOrSystem(c) }
}

// WithLogger logs every change of status (default: nowhere).
func WithLogger(l *slog.Logger) MonitorOption {
	return func(m *Monitor) {
		if l != nil {
			m.logger = l
		}
	}
}

// WithSanitizer passes every output through f before it is stored: hand it
// a redactor's String (redact.New().String) so that no check, not even a
// careless one of yours, can put a key in a health response or a log.
func WithSanitizer(f func(string) string) MonitorOption {
	return func(m *Monitor) { m.sanitize = f }
}

// NewMonitor starts running checks. It panics on a duplicate or empty name
// or a nil Run: those are programming errors. Close stops it.
func NewMonitor(checks []Check, opts ...MonitorOption) *Monitor {
	m := &Monitor{
		clock: credential.SystemClock, logger: slog.New(slog.DiscardHandler),
		byName: map[string]*entry{}, listeners: map[int]func(Change){}, closed: make(chan struct{}),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	for _, o := range opts {
		o(m)
	}
	for _, c := range checks {
		if c.Name == "" || c.Run == nil {
			panic("health: a check needs a Name and a Run func")
		}
		if _, dup := m.byName[c.Name]; dup {
			panic("health: duplicate check " + c.Name)
		}
		if c.Interval <= 0 {
			c.Interval = 30 * time.Second
		}
		if c.Timeout <= 0 {
			c.Timeout = 10 * time.Second
		}
		if c.Timeout > c.Interval {
			c.Timeout = c.Interval
		}
		if c.ComponentType == "" {
			c.ComponentType = "component"
		}
		e := &entry{c: c, kick: make(chan struct{}, 1)}
		e.res.Store(&Result{Status: Pending, Output: "not run yet"})
		m.checks = append(m.checks, e)
		m.byName[c.Name] = e
	}
	sort.Slice(m.checks, func(i, j int) bool { return m.checks[i].c.key() < m.checks[j].c.key() })
	for _, e := range m.checks {
		m.wg.Add(1)
		go m.loop(e)
	}
	return m
}

// loop runs one check: at once, then every Interval, and when kicked.
func (m *Monitor) loop(e *entry) {
	defer m.wg.Done()
	m.run(e)
	t := m.clock.NewTimer(e.c.Interval)
	defer t.Stop()
	for {
		select {
		case <-m.closed:
			return
		case <-t.C():
		case <-e.kick:
			t.Stop()
		}
		m.run(e)
		t.Reset(e.c.Interval)
	}
}

// run runs a check once with its timeout, turning a panic into a failure.
// Only the check's loop calls it. When the previous run ignored its
// timeout and still goes, it records a failure and starts nothing.
func (m *Monitor) run(e *entry) {
	start := m.clock.Now()
	if e.running != nil {
		select {
		case <-e.running:
			e.running = nil
		default:
		}
	}
	var r Result
	if e.running != nil {
		r = Result{Status: Fail, Output: "the previous run is still going after its timeout of " + e.c.Timeout.String()}
	} else {
		ctx, cancel := context.WithTimeout(m.ctx, e.c.Timeout)
		done := make(chan struct{})
		var res Result
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer close(done)
			defer func() {
				if p := recover(); p != nil {
					res = Result{Status: Fail, Output: "check panicked"}
					m.logger.Error("credkit: health check panicked", "check", e.c.Name, "panic_type", fmt.Sprintf("%T", p))
				}
			}()
			res = e.c.Run(ctx)
		}()
		select {
		case <-done:
			r = res
		case <-ctx.Done():
			e.running = done
			r = Result{Status: Fail, Output: "check timed out after " + e.c.Timeout.String()}
		}
		cancel()
		select {
		case <-m.closed:
			return
		default:
		}
	}
	if r.Status == "" {
		r.Status = Pass
	}
	if m.sanitize != nil {
		r.Output = m.sanitize(r.Output)
	}
	r.Time = start
	r.Duration = m.clock.Now().Sub(start)
	old := e.res.Swap(&r).Status
	m.ver.Add(1)
	if old != r.Status {
		m.logger.Log(context.Background(), levelOf(r.Status), "credkit: health check changed", "check", e.c.Name, "from", old, "to", r.Status, "output", r.Output)
		m.notify(Change{Name: e.c.Name, From: old, To: r.Status, Result: r})
	}
}

func levelOf(s Status) slog.Level {
	switch s {
	case Fail:
		return slog.LevelError
	case Warn:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// Results returns every check with its latest result, sorted by key. It
// never runs a check. The slice is shared: do not modify it.
func (m *Monitor) Results() []View {
	v := m.ver.Load()
	if p := m.snap.Load(); p != nil && p.ver == v {
		return p.views
	}
	m.pubMu.Lock()
	defer m.pubMu.Unlock()
	if p := m.snap.Load(); p != nil && p.ver >= v {
		return p.views
	}
	// Read the version before the results: the snapshot holds at least
	// every result up to it, and is stored only over an older one.
	v = m.ver.Load()
	vs := make([]View, len(m.checks))
	for i, e := range m.checks {
		vs[i] = View{Check: e.c, Result: *e.res.Load()}
	}
	m.snap.Store(&published{ver: v, views: vs})
	return vs
}

// Result returns the latest result of the named check.
func (m *Monitor) Result(name string) (Result, bool) {
	e, ok := m.byName[name]
	if !ok {
		return Result{}, false
	}
	return *e.res.Load(), true
}

// RunNow asks the named check to run at once (asynchronously); it reports
// whether the check exists.
func (m *Monitor) RunNow(name string) bool {
	e, ok := m.byName[name]
	if ok {
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
	return ok
}

// OnChange registers f, called after a check's status changes. It returns a
// function that unregisters f.
func (m *Monitor) OnChange(f func(Change)) (unregister func()) {
	m.mu.Lock()
	id := m.nextID
	m.nextID++
	m.listeners[id] = f
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(m.listeners, id)
		m.mu.Unlock()
	}
}

func (m *Monitor) notify(c Change) {
	m.mu.Lock()
	fs := make([]func(Change), 0, len(m.listeners))
	for _, f := range m.listeners {
		fs = append(fs, f)
	}
	m.mu.Unlock()
	for _, f := range fs {
		f(c)
	}
}

// Ready reports whether every critical check not in exclude passes or
// warns.
func (m *Monitor) Ready(exclude ...string) bool {
	return overall(m.Results(), exclude, true) != Fail
}

// overall folds results: fail if any (critical, when criticalOnly) check
// fails or is pending, else warn if any warns, else pass.
func overall(vs []View, exclude []string, criticalOnly bool) Status {
	st := Pass
	for _, v := range vs {
		if excluded(v.Check, exclude) {
			continue
		}
		s := v.Result.Status
		if criticalOnly && !v.Check.Critical {
			if s == Fail || s == Warn {
				s = Warn
			} else {
				continue
			}
		}
		switch s {
		case Fail, Pending:
			if v.Check.Critical || !criticalOnly {
				return Fail
			}
		case Warn:
			st = Warn
		}
	}
	return st
}

func excluded(c Check, exclude []string) bool {
	for _, x := range exclude {
		if x == c.Name || x == c.key() || x == c.Component {
			return true
		}
	}
	return false
}

// Close stops every check, cancels the runs going on and waits for every
// goroutine the monitor started, runs included: a check that ignores its
// context delays Close until it returns. It is idempotent. Results stay
// readable.
func (m *Monitor) Close() error {
	m.closing.Do(func() {
		close(m.closed)
		m.cancel()
		m.wg.Wait()
	})
	return nil
}
