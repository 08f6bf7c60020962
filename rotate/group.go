package rotate

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/credkit/credkit/credential"
)

// group polls the credentials of a Set that share one provider able to
// check many refs at once (credential.BatchVersionChecker, such as AWS
// ListSecrets): one call checks them all, and only the changed ones are
// fetched — in one batch when the provider is a credential.BatchFetcher. A
// ref the batch could not check or fetch falls back to the credential's own
// check.
type group struct {
	set      *Set
	p        credential.Provider
	bvc      credential.BatchVersionChecker
	bf       credential.BatchFetcher
	names    []string
	creds    []*Credential
	failures int
	rnd      *rand.Rand

	// Owned by run's goroutine.
	next    time.Time // when the next poll is due
	last    time.Time // the last successful poll (or the start)
	relaxed bool      // next is at the safety interval: push was healthy
}

func (g *group) run() {
	defer g.set.wg.Done()
	o := g.set.o
	now := o.clock.Now()
	g.last, g.next = now, now.Add(g.jittered(o.interval))
	t := o.clock.NewTimer(g.next.Sub(now))
	defer t.Stop()
	for {
		select {
		case <-g.set.closed:
			return
		case <-t.C():
			t.Reset(g.wake())
		}
	}
}

// wake polls when a poll is due and returns the wait before the next wake.
// While the group is relaxed it wakes at the normal interval anyway, to go
// back to it as soon as push fails, without a backend call.
func (g *group) wake() time.Duration {
	o := g.set.o
	now := o.clock.Now()
	if g.relaxed && !g.pushHealthy() {
		g.relaxed = false
		if back := g.last.Add(o.interval); back.Before(g.next) {
			g.next = back
			g.schedule(back)
		}
	}
	if !now.Before(g.next) {
		d := g.poll()
		now = o.clock.Now()
		g.next = now.Add(d)
	}
	d := g.next.Sub(now)
	if g.relaxed && d > o.interval {
		d = o.interval
	}
	return max(d, 0)
}

// pushHealthy reports whether every credential of the group is pushed to
// by a healthy channel: then the group polls at the safety interval.
func (g *group) pushHealthy() bool {
	for _, c := range g.creds {
		if c.mode() != ModePush {
			return false
		}
	}
	return len(g.creds) > 0
}

func (g *group) jittered(d time.Duration) time.Duration {
	j := g.set.o.jitter
	if j == 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + j*(2*g.rnd.Float64()-1)))
}

// poll checks every credential of the group once and returns the wait
// before the next poll.
func (g *group) poll() time.Duration {
	o := g.set.o
	ctx, cancel := context.WithTimeout(g.set.ctx, o.fetchTimeout)
	defer cancel()
	refs := make([]string, len(g.creds))
	seqs := make([]uint64, len(g.creds))
	for i, c := range g.creds {
		refs[i] = c.ref
		seqs[i] = c.begin()
	}
	ids, err := g.bvc.CurrentVersions(ctx, refs)
	if err != nil && g.set.ctx.Err() != nil {
		return o.interval // canceled by Close: not a backend failure
	}
	if err != nil {
		g.failures++
		g.relaxed = false
		for _, c := range g.creds {
			c.failed(err)
		}
		d := backoffDelay(o.backoffBase, o.backoffCap, g.failures, g.rnd)
		g.schedule(o.clock.Now().Add(d))
		return d
	}
	g.failures = 0
	var changed []*Credential
	var changedSeqs []uint64
	for i, c := range g.creds {
		id, ok := ids[c.ref]
		switch {
		case !ok:
			c.runCheck() // not covered by the batch: alone
		case !c.unchanged(seqs[i], id):
			changed = append(changed, c)
			changedSeqs = append(changedSeqs, seqs[i])
		}
	}
	if len(changed) > 0 {
		gens := make([]uint64, len(changed))
		for i, c := range changed {
			gens[i] = c.generation()
		}
		var got map[string]credential.Version
		if g.bf != nil {
			crefs := make([]string, len(changed))
			for i, c := range changed {
				crefs[i] = c.ref
			}
			got, _ = g.bf.FetchBatch(ctx, crefs)
		}
		for i, c := range changed {
			if v, ok := got[c.ref]; ok {
				c.accept(gens[i], changedSeqs[i], v)
			} else {
				c.runCheck()
			}
		}
	}
	g.relaxed = g.pushHealthy()
	every := o.interval
	if g.relaxed {
		every = o.safety
	}
	now := o.clock.Now()
	g.last = now
	d := g.jittered(every)
	g.schedule(now.Add(d))
	return d
}

// schedule tells the group's credentials (their Status) when it polls next.
func (g *group) schedule(next time.Time) {
	for _, c := range g.creds {
		c.setNext(next)
	}
}

// backoffDelay is full jitter over min(max, base·2^(n-1)).
func backoffDelay(base, max time.Duration, n int, rnd *rand.Rand) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return time.Duration(rnd.Int64N(int64(d)) + 1)
}
