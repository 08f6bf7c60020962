// Package fakeclock is a manual [credential.Clock] for tests: time moves only
// when the test calls Advance or Set, and a test can wait until the code under
// test has armed its timers before it moves time.
package fakeclock

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/credkit/credkit/credential"
)

// Clock is a fake clock. The zero value is not usable; call New.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
	seq    int
	wake   chan struct{} // closed and replaced whenever a timer is armed
}

var _ credential.Clock = (*Clock)(nil)

// New returns a fake clock reading start.
func New(start time.Time) *Clock {
	return &Clock{now: start, wake: make(chan struct{})}
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the fake time reaches Now()+d.
func (c *Clock) NewTimer(d time.Duration) credential.Timer {
	t := &timer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	c.arm(t, d)
	c.mu.Unlock()
	return t
}

// arm schedules t; c.mu is held.
func (c *Clock) arm(t *timer, d time.Duration) {
	t.when = c.now.Add(d)
	c.seq++
	t.seq = c.seq
	if !t.active {
		t.active = true
		c.timers = append(c.timers, t)
	}
	close(c.wake)
	c.wake = make(chan struct{})
	if d <= 0 {
		c.fireDue()
	}
}

// disarm removes t; c.mu is held. It reports whether t was active.
func (c *Clock) disarm(t *timer) bool {
	if !t.active {
		return false
	}
	t.active = false
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			break
		}
	}
	return true
}

// fireDue fires every timer whose time has come, in time order; c.mu is held.
func (c *Clock) fireDue() {
	sort.SliceStable(c.timers, func(i, j int) bool {
		if c.timers[i].when.Equal(c.timers[j].when) {
			return c.timers[i].seq < c.timers[j].seq
		}
		return c.timers[i].when.Before(c.timers[j].when)
	})
	for len(c.timers) > 0 && !c.timers[0].when.After(c.now) {
		t := c.timers[0]
		c.timers = c.timers[1:]
		t.active = false
		select {
		case t.ch <- c.now:
		default:
		}
	}
}

// Advance moves the time forward by d, firing the timers that come due, one
// deadline at a time, so that a timer's channel reads its own deadline.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.setLocked(c.now.Add(d))
	c.mu.Unlock()
}

// Set moves the time to t (never backwards), firing due timers.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.setLocked(t)
	c.mu.Unlock()
}

func (c *Clock) setLocked(end time.Time) {
	for {
		next := end
		for _, t := range c.timers {
			if t.when.Before(next) {
				next = t.when
			}
		}
		if next.After(c.now) {
			c.now = next
		}
		c.fireDue()
		if !next.Before(end) {
			return
		}
	}
}

// Timers returns how many timers are armed.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Next returns the deadline of the earliest armed timer and true, or false
// when none is armed.
func (c *Clock) Next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var min time.Time
	for i, t := range c.timers {
		if i == 0 || t.when.Before(min) {
			min = t.when
		}
	}
	return min, len(c.timers) > 0
}

// WaitTimers blocks until at least n timers are armed, or ctx ends; it
// reports whether the count was reached. Tests call it to know that the code
// under test is waiting before they move time.
func (c *Clock) WaitTimers(ctx context.Context, n int) bool {
	for {
		c.mu.Lock()
		got, wake := len(c.timers), c.wake
		c.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return false
		}
	}
}

// AdvanceToNext moves the time to the earliest armed timer's deadline,
// firing it, and returns how far time moved; it returns 0 when none is armed.
func (c *Clock) AdvanceToNext() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return 0
	}
	min := c.timers[0].when
	for _, t := range c.timers[1:] {
		if t.when.Before(min) {
			min = t.when
		}
	}
	d := min.Sub(c.now)
	if d < 0 {
		d = 0
	}
	c.setLocked(min)
	return d
}

type timer struct {
	c      *Clock
	ch     chan time.Time
	when   time.Time
	seq    int
	active bool
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.c.disarm(t)
}

func (t *timer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.c.disarm(t)
	t.c.arm(t, d)
	return was
}
