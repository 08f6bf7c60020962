package azure_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/azurefake"
	"github.com/credkit/credkit/provider/azure"
	"github.com/credkit/credkit/rotate"
)

// TestPollCost counts the Key Vault calls of 100 unchanged secrets in the
// three ways a service can keep them current — the push row measured over
// an hour of rotate's relaxed polling on the fake clock — and logs the
// cost and throttle table quoted in the README (go test -v -run
// TestPollCost ./provider/azure).
func TestPollCost(t *testing.T) {
	fake, c, clk := setupClock(t)
	create100(t, c, 100)
	clk.Advance(time.Second)
	ctx := context.Background()

	// 1. GetSecret per secret (what a plain poller does).
	p := azure.New(c, azure.WithClock(clk))
	fake.ResetCalls()
	for i := 0; i < 100; i++ {
		_, err := p.Fetch(ctx, fmt.Sprintf("svc-%03d#api_key", i))
		require.NoError(t, err)
	}
	perSecret := fake.TotalCalls()

	// 2. The vault-wide check of a rotate.Set: one listing per poll.
	o := opener(fake, clk)
	set := openSet(t, fake, o, 100, clk)
	fake.ResetCalls()
	poll(t, clk, set)
	vaultWide := fake.TotalCalls()

	// 3. Push: an Event Grid delivery for one new version, no poll.
	hook := credential.NewStatic("hook", credential.NewSecret("FAKE-hook-secret-0000000000"), credential.Metadata{})
	srv := httptest.NewServer(azure.NewEventHandler(hook, o, azure.WithHandlerClock(clk)))
	defer srv.Close()
	rotated := make(chan string, 1)
	set.OnEvent(func(e rotate.Event) {
		if e.Kind == rotate.EventRotated {
			rotated <- e.Name
		}
	})
	var ev azurefake.Event
	fake.OnNewVersion(func(e azurefake.Event) { ev = e })
	put(t, c, "svc-042", `{"api_key":"`+key+`-042-v2"}`, nil, nil)
	fake.ResetCalls()
	resp := deliver(t, srv.URL+"?code=FAKE-hook-secret-0000000000", newVersionEvent(ev))
	require.Equal(t, 200, resp.StatusCode)
	select {
	case name := <-rotated:
		assert.Equal(t, "svc-042", name)
	case <-time.After(5 * time.Second):
		t.Fatal("the push did not reach the Set")
	}
	perEvent := fake.TotalCalls()

	// 4. Push with the relaxed safety poll, measured: an hour of the fake
	// clock with the handler mounted (push healthy) and nothing changing,
	// after the poll that settles the pushed rotation.
	c42, err := set.Credential("svc-042")
	require.NoError(t, err)
	require.Equal(t, rotate.ModePush, c42.Status().Mode)
	minutes := func(n int) {
		for i := 0; i < n; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			require.True(t, clk.WaitTimers(ctx, 100+2)) // housekeeping, the batch group, the reminders
			clk.Advance(time.Minute)
			require.True(t, clk.WaitTimers(ctx, 100+2))
			cancel()
		}
	}
	minutes(1)
	fake.ResetCalls()
	minutes(60)
	pushHour := fake.TotalCalls()

	assert.Equal(t, 100, perSecret)
	assert.Equal(t, 4, vaultWide, "⌈100/25⌉ listing pages")
	assert.Equal(t, 1, perEvent, "one GetSecret per pushed version, no listing")
	assert.Equal(t, 4*vaultWide, pushHour, "a listing every 15 minutes")

	const (
		replicas      = 50
		pollsPerMonth = 43200 // one a minute for 30 days
		hoursPerMonth = 720
		limit         = 4000 // secret reads per vault per 10 s
	)
	cost := func(calls int) float64 { return float64(calls) / 10000 * 0.03 }
	t.Logf("| mode | calls per replica (measured) | calls per month, %d replicas | cost per month | peak per 10 s, replicas in step | share of the 4,000 limit |", replicas)
	t.Logf("|---|---|---|---|---|---|")
	for _, row := range []struct {
		mode     string
		measured string
		month    int
		peak     int
	}{
		{"GetSecret per secret, every minute", fmt.Sprintf("%d per poll", perSecret), perSecret * pollsPerMonth * replicas, perSecret * replicas},
		{"vault-wide listing every minute (+ GetSecret per changed secret)", fmt.Sprintf("%d per poll", vaultWide), vaultWide * pollsPerMonth * replicas, vaultWide * replicas},
		{"Event Grid push + safety listing every 15 min (rotate's relaxed polling)", fmt.Sprintf("%d per hour", pushHour), pushHour * hoursPerMonth * replicas, vaultWide * replicas},
	} {
		t.Logf("| %s | %s | %d | $%.2f | %d | %.0f%% |", row.mode, row.measured, row.month, cost(row.month), row.peak, 100*float64(row.peak)/limit)
	}
	t.Logf("a rotation costs one GetSecret per replica in the last two modes (%d per pushed version measured): %d calls, %.1f%% of the limit, for %d replicas", perEvent, perEvent*replicas, 100*float64(perEvent*replicas)/limit, replicas)
}
