package azure_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/internal/azurefake"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/azure"
	"github.com/credkit/credkit/rotate"
)

// host is the fake's host:port, the VAULT part of its azure-kv:// URLs.
func host(t *testing.T, fake *azurefake.Server) string {
	u, err := url.Parse(fake.URL)
	require.NoError(t, err)
	return u.Host
}

// opener returns an Opener that reaches the fake, its providers on clk.
func opener(fake *azurefake.Server, clk *fakeclock.Clock, opts ...azure.Option) *azure.Opener {
	return azure.NewOpener(
		azure.WithCredential(fake.Credential()),
		azure.WithClientOptions(fake.ClientOptions(-1)),
		azure.WithProviderOptions(append([]azure.Option{azure.WithClock(clk)}, opts...)...),
	)
}

func openSet(t *testing.T, fake *azurefake.Server, o *azure.Opener, n int, clk *fakeclock.Clock, extra ...rotate.Option) *rotate.Set {
	t.Helper()
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("azure-kv", o))
	var cfgs []rotate.Config
	for i := 0; i < n; i++ {
		cfgs = append(cfgs, rotate.Config{Name: fmt.Sprintf("svc-%03d", i), URL: fmt.Sprintf("azure-kv://%s/svc-%03d#api_key", host(t, fake), i)})
	}
	opts := append([]rotate.Option{rotate.WithClock(clk), rotate.WithInterval(time.Minute, 0)}, extra...)
	set, err := rotate.Open(context.Background(), mux, cfgs, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { set.Close() })
	return set
}

// setupClock is setup with the fake vault on a fake clock.
func setupClock(t *testing.T) (*azurefake.Server, *azsecrets.Client, *fakeclock.Clock) {
	fake, c := setup(t)
	clk := fakeclock.New(start)
	fake.SetClock(clk.Now)
	return fake, c, clk
}

func create100(t *testing.T, c *azsecrets.Client, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		put(t, c, fmt.Sprintf("svc-%03d", i), fmt.Sprintf(`{"api_key":"%s-%03d-v1"}`, key, i), nil, nil)
	}
}

// poll moves the fake clock to the next poll of the set and waits until
// every credential has recorded the poll's check.
func poll(t *testing.T, clk *fakeclock.Clock, set *rotate.Set) {
	t.Helper()
	before := map[string]time.Time{}
	for _, n := range set.Names() {
		before[n] = credOf(t, set, n).Status().LastAttempt
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The credentials' housekeeping timers, the set's reminder timer and its
	// batch group's timer.
	require.True(t, clk.WaitTimers(ctx, len(set.Names())+2))
	clk.Advance(time.Minute)
	// The batch group polls (every credential's check recorded), then arms
	// its timer again: the poll is over when every timer is armed again.
	require.True(t, clk.WaitTimers(ctx, len(set.Names())+2), "the poll did not end")
	for _, n := range set.Names() {
		require.True(t, credOf(t, set, n).Status().LastAttempt.After(before[n]), "the poll did not reach %s", n)
	}
}

// TestSetOf100RotatesThree: a rotate.Set of 100 Key Vault secrets polled
// on a fake clock. An unchanged poll is one listing of 4 pages; after 3
// rotations the next poll adds exactly 3 GetSecret calls.
func TestSetOf100RotatesThree(t *testing.T) {
	fake, c, clk := setupClock(t)
	create100(t, c, 100)
	clk.Advance(time.Second) // the secrets exist before the service starts
	set := openSet(t, fake, opener(fake, clk), 100, clk)
	var mu sync.Mutex
	var rotated []string
	set.OnEvent(func(e rotate.Event) {
		if e.Kind == rotate.EventRotated {
			mu.Lock()
			rotated = append(rotated, e.Name)
			mu.Unlock()
		}
	})

	fake.ResetCalls()
	poll(t, clk, set)
	assert.Equal(t, 4, fake.Calls(azurefake.OpList), "100 secrets, 25 a page")
	assert.Equal(t, 4, fake.TotalCalls(), "and nothing else")

	for _, i := range []int{7, 42, 99} {
		put(t, c, fmt.Sprintf("svc-%03d", i), fmt.Sprintf(`{"api_key":"%s-%03d-v2"}`, key, i), nil, nil)
	}
	fake.ResetCalls()
	poll(t, clk, set)
	assert.Equal(t, 4, fake.Calls(azurefake.OpList))
	assert.Equal(t, 3, fake.Calls(azurefake.OpGet), "only the changed secrets are fetched")
	assert.Equal(t, 7, fake.TotalCalls())
	mu.Lock()
	assert.ElementsMatch(t, []string{"svc-007", "svc-042", "svc-099"}, rotated)
	mu.Unlock()
	for i := 0; i < 100; i++ {
		s, err := set.Get(context.Background(), fmt.Sprintf("svc-%03d", i))
		require.NoError(t, err)
		want := fmt.Sprintf("%s-%03d-v1", key, i)
		if i == 7 || i == 42 || i == 99 {
			want = fmt.Sprintf("%s-%03d-v2", key, i)
		}
		assert.True(t, s.Reveal() == want, "svc-%03d holds the wrong version", i)
	}

	// A change of attributes only (tags) costs one GetSecret, no rotation.
	_, err := c.UpdateSecretProperties(context.Background(), "svc-003", "", azsecrets.UpdateSecretPropertiesParameters{Tags: map[string]*string{"owner": to.Ptr("ml-team")}}, nil)
	require.NoError(t, err)
	fake.ResetCalls()
	poll(t, clk, set)
	assert.Equal(t, 1, fake.Calls(azurefake.OpGet))
	fake.ResetCalls()
	poll(t, clk, set)
	assert.Equal(t, 0, fake.Calls(azurefake.OpGet), "and nothing after")
	mu.Lock()
	assert.Len(t, rotated, 3)
	mu.Unlock()
}

// TestNotBeforeAndExpiryOnFakeClock: a new version whose nbf is ahead is
// not fetched nor installed until the first poll after its nbf; a new
// version already expired is never served.
func TestNotBeforeAndExpiryOnFakeClock(t *testing.T) {
	fake, c, clk := setupClock(t)
	create100(t, c, 1)
	clk.Advance(time.Second) // the secrets exist before the service starts
	set := openSet(t, fake, opener(fake, clk), 1, clk)
	ctx := context.Background()

	nbf := clk.Now().Add(90 * time.Second)
	put(t, c, "svc-000", `{"api_key":"`+key+`-000-v2"}`, &azsecrets.SecretAttributes{NotBefore: &nbf}, nil)
	fake.ResetCalls()
	poll(t, clk, set) // t+1m: before nbf
	assert.Equal(t, 0, fake.Calls(azurefake.OpGet), "a version not valid yet is not fetched")
	s, err := set.Get(ctx, "svc-000")
	require.NoError(t, err)
	assert.True(t, s.Reveal() == key+"-000-v1", "the current version stays")
	assert.Equal(t, rotate.Fresh, credOf(t, set, "svc-000").Status().Freshness, "waiting for nbf is not a failure")

	poll(t, clk, set) // t+2m: after nbf
	assert.Equal(t, 1, fake.Calls(azurefake.OpGet))
	s, err = set.Get(ctx, "svc-000")
	require.NoError(t, err)
	assert.True(t, s.Reveal() == key+"-000-v2", "installed once its nbf passed")

	past := clk.Now().Add(-time.Minute)
	put(t, c, "svc-000", `{"api_key":"`+key+`-000-v3"}`, &azsecrets.SecretAttributes{Expires: &past}, nil)
	poll(t, clk, set)
	s, err = set.Get(ctx, "svc-000")
	require.NoError(t, err)
	assert.True(t, s.Reveal() == key+"-000-v2", "an expired version is never served")
	assert.Equal(t, "expired", credOf(t, set, "svc-000").Status().LastError)
}

// TestDisabledAndReenabledInASet: disabling the secret makes its checks
// fail as revoked (ErrRevoked), re-enabling it restores a fresh status;
// with WithKeepLastGoodWhenDisabled the failure is an outage.
func TestDisabledAndReenabledInASet(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprint("keep=", keep), func(t *testing.T) {
			fake, c, clk := setupClock(t)
			create100(t, c, 2)
			clk.Advance(time.Second) // the secrets exist before the service starts
			var opts []azure.Option
			if keep {
				opts = append(opts, azure.WithKeepLastGoodWhenDisabled())
			}
			set := openSet(t, fake, opener(fake, clk, opts...), 2, clk)
			setEnabled(t, c, "svc-001", false)
			poll(t, clk, set)
			st := credOf(t, set, "svc-001").Status()
			want := "revoked"
			if keep {
				want = "unavailable"
			}
			assert.Equal(t, want, st.LastError)
			assert.Equal(t, rotate.Fresh, credOf(t, set, "svc-000").Status().Freshness, "the other secret is untouched")

			setEnabled(t, c, "svc-001", true)
			poll(t, clk, set)
			st = credOf(t, set, "svc-001").Status()
			assert.Equal(t, rotate.Fresh, st.Freshness, "re-enabled: restored")
			assert.Empty(t, st.LastError)
		})
	}
}

// Test429StormIsAbsorbed: Key Vault answers 429 with Retry-After: 300 to
// everything. The first call of the storm is the only one the vault sees
// until Retry-After has passed, however often the Set polls; every
// credential keeps serving its value meanwhile, and the Set recovers at the
// first poll after the storm.
func Test429StormIsAbsorbed(t *testing.T) {
	fake, c, clk := setupClock(t)
	create100(t, c, 100)
	clk.Advance(time.Second) // the secrets exist before the service starts
	set := openSet(t, fake, opener(fake, clk), 100, clk)
	ctx := context.Background()

	fake.SetFault("*", &azurefake.Fault{Status: 429, RetryAfter: 300})
	fake.ResetCalls()
	stormEnd := clk.Now().Add(time.Minute + 300*time.Second)
	polls := 0
	for clk.Now().Add(time.Minute).Before(stormEnd) {
		poll(t, clk, set)
		polls++
		for i := 0; i < 100; i++ {
			_, err := set.Get(ctx, fmt.Sprintf("svc-%03d", i))
			require.NoError(t, err, "the last good value is served through the storm")
		}
	}
	assert.GreaterOrEqual(t, polls, 4)
	assert.Equal(t, 1, fake.TotalCalls(), "one call met the 429; none until Retry-After passed")
	st := credOf(t, set, "svc-050").Status()
	assert.Equal(t, rotate.Stale, st.Freshness)
	assert.Equal(t, "unavailable", st.LastError)

	fake.SetFault("*", nil)
	clk.Set(stormEnd)
	poll(t, clk, set)
	assert.Equal(t, rotate.Fresh, credOf(t, set, "svc-050").Status().Freshness, "recovered after the storm")
}

// TestRequestBudgetSpreadsAFetchStorm: with a budget of 10 requests per
// 10 s, fetching 25 changed secrets takes three windows of the fake clock.
func TestRequestBudgetSpreadsAFetchStorm(t *testing.T) {
	fake, c, clk := setupClock(t)
	create100(t, c, 25)
	clk.Advance(time.Second) // the secrets exist before the service starts
	p := azure.New(c, azure.WithClock(clk), azure.WithRequestLimits(4, 10))
	var refs []string
	for i := 0; i < 25; i++ {
		refs = append(refs, fmt.Sprintf("svc-%03d#api_key", i))
	}
	fake.ResetCalls()
	done := make(chan map[string]int, 1)
	go func() {
		vs, err := p.FetchBatch(context.Background(), refs)
		assert.NoError(t, err)
		done <- map[string]int{"n": len(vs)}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, want := range []int{10, 20} {
		// All 4 workers wait for the window: the admitted requests are done.
		require.True(t, clk.WaitTimers(ctx, 4), "the batch waits for the window")
		assert.Equal(t, want, fake.Calls(azurefake.OpGet), "no more than the budget in one window")
		clk.Advance(10 * time.Second)
	}
	res := <-done
	assert.Equal(t, 25, res["n"])
	assert.Equal(t, 25, fake.Calls(azurefake.OpGet))
}

// TestSameSecondVersionIsNotMissed is the regression test of the
// whole-second ambiguity: a version written in the second the previous one
// was fetched has the same listed attributes, and must still be picked up.
func TestSameSecondVersionIsNotMissed(t *testing.T) {
	fake, c, clk := setupClock(t)
	create100(t, c, 1)
	set := openSet(t, fake, opener(fake, clk), 1, clk) // fetched in the second it was written
	put(t, c, "svc-000", `{"api_key":"`+key+`-000-v2"}`, nil, nil)
	poll(t, clk, set)
	s, err := set.Get(context.Background(), "svc-000")
	require.NoError(t, err)
	assert.True(t, s.Reveal() == key+"-000-v2", "a version hidden behind equal attributes is fetched")
	fake.ResetCalls()
	poll(t, clk, set)
	assert.Equal(t, 0, fake.Calls(azurefake.OpGet), "once settled, an unchanged secret costs no GetSecret")
}

// TestListDeniedFallsBackToPerSecretChecks: an identity granted secrets
// one by one cannot list the vault; the provider says so once and the Set
// checks each secret alone.
func TestListDeniedFallsBackToPerSecretChecks(t *testing.T) {
	fake, c, clk := setupClock(t)
	create100(t, c, 3)
	clk.Advance(time.Second)
	fake.DenyList()
	var logs syncBuffer
	set := openSet(t, fake, opener(fake, clk, azure.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))), 3, clk)
	assert.Len(t, set.Inventory().Credentials, 3, "opened, described through GetSecret")
	put(t, c, "svc-002", `{"api_key":"`+key+`-002-v2"}`, nil, nil)
	fake.ResetCalls()
	poll(t, clk, set)
	assert.Equal(t, 0, fake.Calls(azurefake.OpList), "not tried again once denied")
	assert.Equal(t, 3, fake.Calls(azurefake.OpGet), "one GetSecret per secret")
	s, err := set.Get(context.Background(), "svc-002")
	require.NoError(t, err)
	assert.True(t, s.Reveal() == key+"-002-v2")
	for _, n := range set.Names() {
		assert.Equal(t, rotate.Fresh, credOf(t, set, n).Status().Freshness)
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "denies listing"), "logged once")
}

// credOf returns the named credential of set, failing the test if it has
// none.
func credOf(t testing.TB, set *rotate.Set, name string) *rotate.Credential {
	t.Helper()
	c, err := set.Credential(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
