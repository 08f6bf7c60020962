package rotate_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/rotate"
)

// minter mints a new token at every Fetch, living life on clock, as a
// token endpoint does.
type minter struct {
	clock credential.Clock
	life  time.Duration
	n     atomic.Int32
}

func (m *minter) Fetch(context.Context, string) (credential.Version, error) {
	n := m.n.Add(1)
	now := m.clock.Now()
	s := credential.NewSecret("fake-minted-token-" + strconv.Itoa(int(n)) + "-FAKEFAKE")
	return credential.Version{Secret: s, ID: strconv.Itoa(int(n)), Created: now, Expires: now.Add(m.life)}, nil
}

// Regression: with the default refresh-ahead (80% or a minute before
// expiry), a token living 60 s had its refresh point at the moment it
// arrived: the credential minted a new token in a loop, thousands a second
// without time moving. The margin now counts only for versions that live
// more than twice as long, so the token is refreshed at 48 s (80%): 12 or
// 13 times in 10 minutes.
func TestShortLivedDefaultsDoNotLoop(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	m := &minter{clock: clk, life: time.Minute}
	c, err := rotate.Watch(context.Background(), "token", m, "ref", rotate.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 600; i++ {
		clk.Advance(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		settled := clk.WaitTimers(ctx, 1)
		cancel()
		if !settled {
			t.Fatalf("at +%ds the credential never went back to sleep: %d fetches (a refresh loop)", i+1, m.n.Load())
		}
		if _, err := c.Get(context.Background()); err != nil {
			t.Fatalf("at +%ds: %v", i+1, err)
		}
	}
	if got := m.n.Load() - 1; got < 12 || got > 13 {
		t.Fatalf("%d refreshes of a 60 s token in 10 minutes, want 12-13", got)
	}
}
