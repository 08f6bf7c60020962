package gcp_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	pubsubpb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	smpb "cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/iterator"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/gcp"
	"github.com/credkit/credkit/rotate"
)

var start = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func svcName(i int) string { return secretName(fmt.Sprintf("svc-%03d", i)) }

func svcValue(i, v int) string { return fmt.Sprintf(`{"api_key":"%s-%03d-v%d"}`, key, i, v) }

func svcKey(i, v int) string { return fmt.Sprintf("%s-%03d-v%d", key, i, v) }

// openSet opens a Set of n svc secrets through an opener with opts.
func openSet(t *testing.T, n int, clk *fakeclock.Clock, interval time.Duration, opts ...gcp.OpenerOption) *rotate.Set {
	t.Helper()
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("gcp-sm", gcp.NewOpener(opts...)))
	var cfgs []rotate.Config
	for i := 0; i < n; i++ {
		cfgs = append(cfgs, rotate.Config{Name: fmt.Sprintf("svc-%03d", i), URL: "gcp-sm://" + svcName(i) + "#api_key"})
	}
	set, err := rotate.Open(context.Background(), mux, cfgs, rotate.WithClock(clk), rotate.WithInterval(interval, 0))
	require.NoError(t, err)
	t.Cleanup(func() { set.Close() })
	return set
}

// rotations collects a Set's rotation events.
type rotations struct {
	mu    sync.Mutex
	names map[string]int
	ch    chan string
}

func watchRotations(set *rotate.Set) *rotations {
	r := &rotations{names: map[string]int{}, ch: make(chan string, 1000)}
	set.OnEvent(func(e rotate.Event) {
		if e.Kind == rotate.EventRotated {
			r.mu.Lock()
			r.names[e.Name]++
			r.mu.Unlock()
			r.ch <- e.Name
		}
	})
	return r
}

// wait waits for n rotation events.
func (r *rotations) wait(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-r.ch:
		case <-timeout:
			t.Fatalf("saw %d of %d rotations", i, n)
		}
	}
}

func (r *rotations) count() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.names {
		out[k] = v
	}
	return out
}

// poll moves the fake clock to the Set's next poll and waits until every
// credential has recorded its check.
func poll(t *testing.T, clk *fakeclock.Clock, set *rotate.Set) {
	t.Helper()
	before := map[string]time.Time{}
	for _, n := range set.Names() {
		before[n] = credOf(t, set, n).Status().LastAttempt
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Each credential's own poll timer and the Set's reminder timer.
	require.True(t, clk.WaitTimers(ctx, len(set.Names())+1))
	clk.Advance(time.Minute)
	// Each credential checks, then arms its timer again: the poll is over
	// when every timer is armed again.
	require.True(t, clk.WaitTimers(ctx, len(set.Names())+1), "the poll did not end")
	for _, n := range set.Names() {
		require.True(t, credOf(t, set, n).Status().LastAttempt.After(before[n]), "the poll did not reach %s", n)
	}
}

// TestPollCost opens a Set of 100 secrets on a fake clock and counts, on
// the fake, the calls of opening it, of one poll, of a poll that finds 3
// rotations, and of a pushed rotation; then prints the cost and quota table
// quoted in the README for 100 secrets × 50 replicas at one poll a minute.
func TestPollCost(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		e.create(t, svcName(i), svcValue(i, 1), withTopic)
	}
	clk := fakeclock.New(start)

	e.fake.ResetCalls()
	set := openSet(t, 100, clk, time.Minute, gcp.WithClient(e.c))
	open := e.fake.CallCounts()
	assert.Equal(t, map[string]int{"AccessSecretVersion": 100, "GetSecret": 100}, open, "open: one access and one Describe per secret")
	rot := watchRotations(set)

	e.fake.ResetCalls()
	poll(t, clk, set)
	perPoll := e.fake.CallCounts()
	assert.Equal(t, map[string]int{"AccessSecretVersion": 100}, perPoll, "a poll is one AccessSecretVersion per secret, no metadata read")
	assert.Empty(t, rot.count(), "an unchanged version is not reinstalled")

	for _, i := range []int{7, 42, 99} {
		e.add(t, svcName(i), svcValue(i, 2))
	}
	e.fake.ResetCalls()
	poll(t, clk, set)
	assert.Equal(t, map[string]int{"AccessSecretVersion": 100}, e.fake.CallCounts(), "the change check is the access itself")
	assert.Equal(t, map[string]int{"svc-007": 1, "svc-042": 1, "svc-099": 1}, rot.count())
	for _, i := range []int{7, 42, 99} {
		s, err := set.Get(ctx, fmt.Sprintf("svc-%03d", i))
		require.NoError(t, err)
		assert.True(t, s.Reveal() == svcKey(i, 2))
	}

	// A metadata check per secret (GetSecretVersion, which AWS-style "cheap"
	// checking would use): the same number of calls, on the scarce quota.
	e.fake.ResetCalls()
	for i := 0; i < 100; i++ {
		_, err := e.c.GetSecretVersion(ctx, &smpb.GetSecretVersionRequest{Name: svcName(i) + "/versions/latest"})
		require.NoError(t, err)
	}
	metaPerPoll := e.fake.TotalCalls()

	// Push: one replica with a Notifier; a rotation costs one access, and
	// nothing else runs while the clock stands still.
	n, err := gcp.NewNotifier(ctx, e.pubsubClient(t), gcp.WithTopic(topic, 0))
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	notifierReceiving(t, n)
	pclk := fakeclock.New(start)
	pushed := openSet(t, 100, pclk, time.Minute, gcp.WithClient(e.c), gcp.WithPush(n))
	prot := watchRotations(pushed)
	e.fake.ResetCalls()
	e.add(t, svcName(6), svcValue(6, 2))
	prot.wait(t, 1)
	perRotation := e.fake.Calls("AccessSecretVersion")
	assert.Equal(t, 1, perRotation, "a pushed rotation costs one access per replica")
	assert.Equal(t, map[string]int{"svc-006": 1}, prot.count())

	// Push with rotate's relaxed safety poll, measured: an hour of the
	// fake clock, nothing changing, after the first poll (at the normal
	// interval) found push healthy.
	minutes := func(k int) {
		for i := 0; i < k; i++ {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			require.True(t, pclk.WaitTimers(wctx, 100+1)) // each credential's, the reminders'
			pclk.Advance(time.Minute)
			require.True(t, pclk.WaitTimers(wctx, 100+1))
			cancel()
		}
	}
	minutes(1)
	require.Equal(t, rotate.ModePush, credOf(t, pushed, "svc-000").Status().Mode)
	e.fake.ResetCalls()
	minutes(60)
	pushHour := e.fake.Calls("AccessSecretVersion")
	assert.Equal(t, 100*4, pushHour, "each secret every 15 minutes")

	const (
		replicas   = 50
		perMinute  = 1
		month      = 43200 // minutes in 30 days
		accessQ    = 90000 // per project per minute
		metaQ      = 600
		pricePer10 = 0.03 // $ per 10,000 accesses
	)
	access := perPoll["AccessSecretVersion"]
	type row struct {
		mode, measured string
		accessPerMin   float64
		metaPerMin     float64
		accessPerMonth float64
	}
	rows := []row{
		{"poll: AccessSecretVersion per secret, once a minute (the default)", fmt.Sprintf("%d AccessSecretVersion a poll", access),
			float64(access * replicas * perMinute), 0, float64(access * replicas * month)},
		{"poll: GetSecretVersion per secret, once a minute (a metadata check; not done)", fmt.Sprintf("%d GetSecretVersion a poll", metaPerPoll),
			0, float64(metaPerPoll * replicas * perMinute), 0},
		{"push: Pub/Sub + rotate's safety poll every 15 min, 3 rotations a day in all", fmt.Sprintf("%d AccessSecretVersion an hour, %d a rotation", pushHour, perRotation),
			float64(pushHour*replicas) / 60, 0, float64(pushHour*replicas*month/60) + float64(perRotation*replicas*3*30)},
		{"open: Describe once per secret, every replica starting in one minute", fmt.Sprintf("%d GetSecret at open", open["GetSecret"]),
			0, float64(open["GetSecret"] * replicas), 0},
	}
	t.Logf("100 secrets × %d replicas; quotas per project per minute: access %d, metadata reads %d; $%.2f per 10,000 accesses", replicas, accessQ, metaQ, pricePer10)
	t.Logf("| mode | measured, per replica | accesses/min (%% of quota) | metadata reads/min (%% of quota) | accesses/month | cost/month |")
	t.Logf("|---|---|---|---|---|---|")
	for _, r := range rows {
		t.Logf("| %s | %s | %.0f (%.1f%%) | %.0f (%.0f%%) | %.0f | $%.2f |", r.mode, r.measured,
			r.accessPerMin, 100*r.accessPerMin/accessQ, r.metaPerMin, 100*r.metaPerMin/metaQ, r.accessPerMonth, r.accessPerMonth/10000*pricePer10)
	}
	t.Logf("set-wide polling: not available on GCP (no Secret Manager call returns every secret's latest version; ListSecrets carries none)")
	assert.Equal(t, 100, access)
	assert.Equal(t, 100, metaPerPoll)
	assert.Greater(t, float64(metaPerPoll*replicas), float64(metaQ), "metadata polling exceeds the quota: why credkit polls with accesses")
	assert.Less(t, float64(access*replicas), float64(accessQ))
}

// replica is one simulated process: its own clients, Notifier and Set.
type replica struct {
	set *rotate.Set
	rot *rotations
	n   *gcp.Notifier
}

func newReplica(t *testing.T, e *env, n int) *replica {
	t.Helper()
	ctx := context.Background()
	c, err := e.fake.Client(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	ps := e.pubsubClient(t)
	nt, err := gcp.NewNotifier(ctx, ps, gcp.WithTopic(topic, 0))
	require.NoError(t, err)
	t.Cleanup(func() { nt.Close() })
	// The clock never moves: any change seen comes from push.
	set := openSet(t, n, fakeclock.New(start), time.Hour, gcp.WithClient(c), gcp.WithPush(nt))
	return &replica{set: set, rot: watchRotations(set), n: nt}
}

// TestPushTwoReplicas50Secrets: a new version of each of 50 secrets reaches
// two replicas by Pub/Sub, each with its own subscription and each getting
// every event, with no poll; Close deletes the subscriptions.
func TestPushTwoReplicas50Secrets(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		e.create(t, svcName(i), svcValue(i, 1), withTopic)
	}
	a, b := newReplica(t, e, 50), newReplica(t, e, 50)
	require.NotEqual(t, a.n.Subscription(), b.n.Subscription(), "one subscription per replica")

	e.fake.ResetCalls()
	for i := 0; i < 50; i++ {
		e.add(t, svcName(i), svcValue(i, 2))
	}
	a.rot.wait(t, 50)
	b.rot.wait(t, 50)
	for _, r := range []*replica{a, b} {
		counts := r.rot.count()
		assert.Len(t, counts, 50)
		for i := 0; i < 50; i++ {
			name := fmt.Sprintf("svc-%03d", i)
			assert.Equal(t, 1, counts[name])
			s, err := r.set.Get(ctx, name)
			require.NoError(t, err)
			assert.True(t, s.Reveal() == svcKey(i, 2), "%s holds the new version", name)
			st := credOf(t, r.set, name).Status()
			assert.Equal(t, "2", st.VersionID)
		}
		st := r.n.Status()
		assert.True(t, st.Receiving)
		assert.GreaterOrEqual(t, st.Messages, int64(50))
	}
	assert.Equal(t, 100, e.fake.Calls("AccessSecretVersion"), "one access per secret per replica, nothing polled")

	// Close deletes each replica's own subscription.
	ps := e.pubsubClient(t)
	subs := func() []string {
		var out []string
		it := ps.SubscriptionAdminClient.ListSubscriptions(ctx, &pubsubpb.ListSubscriptionsRequest{Project: "projects/" + project})
		for {
			s, err := it.Next()
			if err == iterator.Done {
				return out
			}
			require.NoError(t, err)
			out = append(out, s.Name)
		}
	}
	assert.ElementsMatch(t, []string{a.n.Subscription(), b.n.Subscription()}, subs())
	require.NoError(t, a.n.Close())
	require.NoError(t, a.n.Close(), "Close is idempotent")
	require.NoError(t, b.n.Close())
	assert.Empty(t, subs(), "the per-process subscriptions are deleted on Close")
}

// TestPushKillSwitch: with WithDisabledLatestRevokes, disabling the latest
// version in the console revokes the credential in every replica, by push
// (the clocks never move: no poll), with no hook; enabling it again lifts
// the revocation everywhere, by push too.
func TestPushKillSwitch(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	name := secretName("openai")
	e.create(t, name, `{"api_key":"`+key+`"}`, withTopic)
	type rep struct {
		set    *rotate.Set
		events chan rotate.Event
	}
	var reps []*rep
	for i := 0; i < 2; i++ {
		n, err := gcp.NewNotifier(ctx, e.pubsubClient(t), gcp.WithTopic(topic, 0))
		require.NoError(t, err)
		t.Cleanup(func() { n.Close() })
		mux := provider.NewURLMux()
		require.NoError(t, mux.Register("gcp-sm", gcp.NewOpener(gcp.WithClient(e.c), gcp.WithPush(n),
			gcp.WithProviderOptions(gcp.WithDisabledLatestRevokes()))))
		set, err := rotate.Open(ctx, mux, []rotate.Config{{Name: "openai", URL: "gcp-sm://" + name + "#api_key"}},
			rotate.WithClock(fakeclock.New(start)), rotate.WithInterval(time.Hour, 0))
		require.NoError(t, err)
		t.Cleanup(func() { set.Close() })
		r := &rep{set: set, events: make(chan rotate.Event, 16)}
		set.OnEvent(func(ev rotate.Event) { r.events <- ev })
		reps = append(reps, r)
	}
	wait := func(i int, r *rep, kind rotate.EventKind) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ev := <-r.events:
				if ev.Kind == kind {
					return
				}
			case <-deadline:
				t.Fatalf("replica %d: no %s event", i, kind)
			}
		}
	}
	e.disable(t, name, "1")
	for i, r := range reps {
		wait(i, r, rotate.EventRevoked)
		_, err := r.set.Get(ctx, "openai")
		assert.True(t, errors.Is(err, credential.ErrRevoked), "replica %d: got %v", i, err)
		assert.Equal(t, "backend", credOf(t, r.set, "openai").Status().RevokedBy)
	}
	e.enable(t, name, "1")
	for i, r := range reps {
		wait(i, r, rotate.EventRestored)
		s, err := r.set.Get(ctx, "openai")
		require.NoError(t, err, "replica %d", i)
		assert.True(t, s.Reveal() == key)
	}
}

// TestRelaxedPollingFollowsPubSub: a Set of 10 secrets with push through
// Pub/Sub polls each secret every 15 minutes while the Notifier receives,
// and every minute once it stops (here: closed), within a minute.
func TestRelaxedPollingFollowsPubSub(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		e.create(t, svcName(i), svcValue(i, 1), withTopic)
	}
	n, err := gcp.NewNotifier(ctx, e.pubsubClient(t), gcp.WithTopic(topic, 0))
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	notifierReceiving(t, n)
	clk := fakeclock.New(start)
	set := openSet(t, 10, clk, time.Minute, gcp.WithClient(e.c), gcp.WithPush(n))
	minutes := func(k int) int {
		before := e.fake.Calls("AccessSecretVersion")
		for i := 0; i < k; i++ {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			require.True(t, clk.WaitTimers(wctx, 10+1)) // each credential's, the reminders'
			clk.Advance(time.Minute)
			require.True(t, clk.WaitTimers(wctx, 10+1))
			cancel()
		}
		return e.fake.Calls("AccessSecretVersion") - before
	}
	healthy := minutes(60)
	t.Logf("Pub/Sub receiving: %d AccessSecretVersion in 60 minutes for 10 secrets", healthy)
	assert.Equal(t, 10*4, healthy, "each secret at +1, +16, +31, +46 minutes")
	st := credOf(t, set, "svc-003").Status()
	assert.Equal(t, rotate.ModePush, st.Mode)
	assert.Equal(t, 15*time.Minute, st.NextRefresh.Sub(st.LastSuccess))

	require.NoError(t, n.Close())
	assert.False(t, n.PushHealthy())
	down := minutes(5)
	t.Logf("Pub/Sub stopped: %d AccessSecretVersion in 5 minutes for 10 secrets", down)
	assert.Equal(t, 10*5, down, "back to one check a minute at once")
	st = credOf(t, set, "svc-003").Status()
	assert.Equal(t, rotate.ModePoll, st.Mode)
	assert.Equal(t, time.Minute, st.NextRefresh.Sub(st.LastSuccess))
}

// TestDisabledLatestKeepsSetServing: a running Set whose secret's latest
// version gets disabled keeps serving, the newest enabled version.
func TestDisabledLatestKeepsSetServing(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		e.create(t, svcName(i), svcValue(i, 1))
		e.add(t, svcName(i), svcValue(i, 2))
	}
	clk := fakeclock.New(start)
	var conds sync.Map
	set := openSet(t, 3, clk, time.Minute, gcp.WithClient(e.c), gcp.WithProviderOptions(gcp.WithConditionHook(func(c gcp.Condition) {
		conds.Store(c.Ref, c)
	})))
	e.disable(t, svcName(1), "2")
	poll(t, clk, set)
	for i := 0; i < 3; i++ {
		s, err := set.Get(ctx, fmt.Sprintf("svc-%03d", i))
		require.NoError(t, err, "the service keeps running")
		want := svcKey(i, 2)
		if i == 1 {
			want = svcKey(1, 1)
		}
		assert.True(t, s.Reveal() == want, "svc-%03d", i)
		assert.Equal(t, rotate.Fresh, credOf(t, set, fmt.Sprintf("svc-%03d", i)).Status().Freshness)
	}
	c, ok := conds.Load(svcName(1) + "#api_key")
	require.True(t, ok, "the condition is reported")
	assert.Equal(t, "DISABLED", c.(gcp.Condition).LatestState)

	// The inventory lists it for that credential only, and its health
	// check warns (the service is still served: not a failure).
	for _, it := range set.Inventory().Credentials {
		if it.Name == "svc-001" {
			assert.Equal(t, []string{"the latest version (2) is DISABLED; serving version 1"}, it.Conditions)
		} else {
			assert.Empty(t, it.Conditions, it.Name)
		}
	}
	for _, chk := range health.SetChecks(set, health.CredentialOptions{}) {
		r := chk.Run(ctx)
		if chk.Component == "svc-001" {
			assert.Equal(t, health.Warn, r.Status)
			assert.Contains(t, r.Output, "is DISABLED; serving version 1")
		} else {
			assert.Equal(t, health.Pass, r.Status, chk.Component)
		}
	}
}

// TestCRCMismatchNeverInstalled: a corrupted payload is never installed;
// the last good value is served.
func TestCRCMismatchNeverInstalled(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.create(t, svcName(0), svcValue(0, 1))
	clk := fakeclock.New(start)
	set := openSet(t, 1, clk, time.Minute, gcp.WithClient(e.c))
	v := e.add(t, svcName(0), svcValue(0, 2))
	require.NoError(t, e.fake.CorruptPayload(svcName(0)+"/versions/"+v))
	poll(t, clk, set)
	s, err := set.Get(ctx, "svc-000")
	require.NoError(t, err)
	assert.True(t, s.Reveal() == svcKey(0, 1), "the corrupted version is not installed")
	st := credOf(t, set, "svc-000").Status()
	assert.Equal(t, rotate.Stale, st.Freshness)
	assert.Equal(t, "unavailable", st.LastError)
}

var _ = (*secretmanager.Client)(nil)
var _ = (*pubsub.Client)(nil)

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
