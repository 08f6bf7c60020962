package aws_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/awsfake"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/aws"
	"github.com/credkit/credkit/rotate"
)

func openSet(t *testing.T, fake *awsfake.Server, c *secretsmanager.Client, n int, clk *fakeclock.Clock) *rotate.Set {
	t.Helper()
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("aws-sm", aws.NewOpener(aws.WithClient(c))))
	var cfgs []rotate.Config
	for i := 0; i < n; i++ {
		cfgs = append(cfgs, rotate.Config{Name: fmt.Sprintf("svc-%03d", i), URL: fmt.Sprintf("aws-sm://prod/svc-%03d#api_key", i)})
	}
	set, err := rotate.Open(context.Background(), mux, cfgs, rotate.WithClock(clk), rotate.WithInterval(time.Minute, 0))
	require.NoError(t, err)
	t.Cleanup(func() { set.Close() })
	return set
}

// mustCred returns the named credential of set.
func mustCred(t *testing.T, set *rotate.Set, name string) *rotate.Credential {
	t.Helper()
	c, err := set.Credential(name)
	require.NoError(t, err)
	return c
}

// poll moves the fake clock to the next poll of the set and waits until
// the poll's calls have been made.
func poll(t *testing.T, clk *fakeclock.Clock, set *rotate.Set, fake *awsfake.Server) {
	t.Helper()
	before := map[string]time.Time{}
	for _, n := range set.Names() {
		before[n] = mustCred(t, set, n).Status().LastAttempt
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The credentials' housekeeping timers, the set's reminder timer and its
	// batch group's timer.
	require.True(t, clk.WaitTimers(ctx, len(set.Names())+2))
	clk.Advance(time.Minute)
	// The poll is over when every credential has recorded its check (the
	// changed ones after their batch fetch).
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range set.Names() {
		for !mustCred(t, set, n).Status().LastAttempt.After(before[n]) {
			require.True(t, time.Now().Before(deadline), "the poll did not reach %s", n)
			time.Sleep(time.Millisecond)
		}
	}
}

// TestSetOf100RotatesThree is the end to end: a rotate.Set of 100 AWS
// secrets polled on a fake clock; 3 are rotated through AWSPENDING →
// AWSCURRENT; each is picked up at the next check, with one ListSecrets and
// one BatchGetSecretValue, and nothing else is fetched.
func TestSetOf100RotatesThree(t *testing.T) {
	fake, c := setup(t, 1)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		create(t, c, fmt.Sprintf("prod/svc-%03d", i), fmt.Sprintf(`{"api_key":"%s-%03d-v1"}`, key, i))
	}
	clk := fakeclock.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	set := openSet(t, fake, c, 100, clk)
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
	poll(t, clk, set, fake)
	assert.Equal(t, 1, fake.Calls("ListSecrets"), "100 unchanged secrets: one ListSecrets page")
	assert.Equal(t, 1, fake.TotalCalls(), "and nothing else")

	for _, i := range []int{7, 42, 99} {
		name := fmt.Sprintf("prod/svc-%03d", i)
		cur, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: sdkaws.String(name)})
		require.NoError(t, err)
		var curID string
		for id, st := range cur.VersionIdsToStages {
			for _, s := range st {
				if s == "AWSCURRENT" {
					curID = id
				}
			}
		}
		put, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: sdkaws.String(name),
			SecretString: sdkaws.String(fmt.Sprintf(`{"api_key":"%s-%03d-v2"}`, key, i)), VersionStages: []string{"AWSPENDING"}})
		require.NoError(t, err)
		_, err = c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: sdkaws.String(name),
			VersionStage: sdkaws.String("AWSCURRENT"), MoveToVersionId: put.VersionId, RemoveFromVersionId: sdkaws.String(curID)})
		require.NoError(t, err)
	}
	fake.ResetCalls()
	poll(t, clk, set, fake)
	assert.Equal(t, 1, fake.Calls("ListSecrets"))
	assert.Equal(t, 1, fake.Calls("BatchGetSecretValue"), "the 3 changed secrets in one batch")
	assert.Equal(t, 2, fake.TotalCalls(), "nothing else is fetched")
	mu.Lock()
	assert.ElementsMatch(t, []string{"svc-007", "svc-042", "svc-099"}, rotated)
	mu.Unlock()
	for i := 0; i < 100; i++ {
		s, err := set.Get(ctx, fmt.Sprintf("svc-%03d", i))
		require.NoError(t, err)
		want := fmt.Sprintf("%s-%03d-v1", key, i)
		if i == 7 || i == 42 || i == 99 {
			want = strings.Replace(want, "-v1", "-v2", 1)
			prev, ok := mustCred(t, set, fmt.Sprintf("svc-%03d", i)).Previous()
			require.True(t, ok, "the AWSPREVIOUS value stays for the overlap window")
			assert.True(t, prev.Secret.Reveal() == fmt.Sprintf("%s-%03d-v1", key, i), "previous value mismatch")
		}
		assert.True(t, s.Reveal() == want, "svc-%03d holds the wrong version", i)
	}
}

// TestPollCost counts the calls that keep 100 unchanged secrets current
// in four ways — one poll of each polling mode, and an hour of the fake
// clock for push through EventBridge and SQS with rotate's relaxed safety
// poll — and logs the table quoted in the README (go test -v -run
// TestPollCost ./provider/aws).
func TestPollCost(t *testing.T) {
	fake, c := setup(t, 1)
	ctx := context.Background()
	var refs []string
	for i := 0; i < 100; i++ {
		create(t, c, fmt.Sprintf("prod/svc-%03d", i), fmt.Sprintf(`{"api_key":"%s-%03d"}`, key, i))
		refs = append(refs, fmt.Sprintf("prod/svc-%03d#api_key", i))
	}
	p := aws.New(c)

	// 1. A set-wide check.
	clk := fakeclock.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	set := openSet(t, fake, c, 100, clk)
	fake.ResetCalls()
	poll(t, clk, set, fake)
	setWide := fake.TotalCalls()
	require.NoError(t, set.Close())

	// 2. GetSecretValue per secret (what a plain poller does).
	fake.ResetCalls()
	for _, r := range refs {
		_, err := p.Fetch(ctx, r)
		require.NoError(t, err)
	}
	perGet := fake.TotalCalls()

	// 3. DescribeSecret per secret, then GetSecretValue only on change (a
	// Watch of one credential).
	fake.ResetCalls()
	for _, r := range refs {
		_, err := p.CurrentVersion(ctx, r)
		require.NoError(t, err)
	}
	perDescribe := fake.TotalCalls()

	// 4. Push: a Set reading its own queue, polling at the 1-minute
	// interval but relaxed to the 15-minute safety poll while the queue is
	// read. Secrets Manager calls counted over an hour of the fake clock.
	q := fake.CreateQueue("cost")
	fake.RouteEvents(q, false)
	events := aws.NewEvents(fake.SQSClient(1), q, aws.WithWaitTime(time.Second))
	defer events.Close()
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("aws-sm", aws.NewOpener(aws.WithClient(c), aws.WithEventQueue(events))))
	var cfgs []rotate.Config
	for i := 0; i < 100; i++ {
		cfgs = append(cfgs, rotate.Config{Name: fmt.Sprintf("svc-%03d", i), URL: "aws-sm://" + refs[i]})
	}
	pclk := fakeclock.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	pushed, err := rotate.Open(ctx, mux, cfgs, rotate.WithClock(pclk), rotate.WithInterval(time.Minute, 0))
	require.NoError(t, err)
	defer pushed.Close()
	require.Eventually(t, events.PushHealthy, 10*time.Second, time.Millisecond)
	minute := func() {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.True(t, pclk.WaitTimers(wctx, 100+2)) // housekeeping, the batch group, the reminders
		pclk.Advance(time.Minute)
		require.True(t, pclk.WaitTimers(wctx, 100+2))
	}
	minute() // the first poll, at the normal interval, finds push healthy
	require.Equal(t, rotate.ModePush, mustCred(t, pushed, "svc-000").Status().Mode)
	before := fake.Calls("ListSecrets") + fake.Calls("BatchGetSecretValue") + fake.Calls("GetSecretValue") + fake.Calls("DescribeSecret")
	for i := 0; i < 60; i++ {
		minute()
	}
	pushHour := fake.Calls("ListSecrets") + fake.Calls("BatchGetSecretValue") + fake.Calls("GetSecretValue") + fake.Calls("DescribeSecret") - before

	assert.Equal(t, 1, setWide)
	assert.Equal(t, 100, perGet)
	assert.Equal(t, 100, perDescribe)
	assert.Equal(t, 4, pushHour, "one ListSecrets every 15 minutes")

	const (
		replicas      = 50
		pollsPerMonth = 43200 // one a minute for 30 days
		hoursPerMonth = 720
		smPrice       = 0.05 / 10000 // Secrets Manager, per API call
		sqsPrice      = 0.40 / 1e6   // SQS standard queue, per request (free tier left out)
	)
	// An idle receiver has one long poll in flight at a time: one
	// ReceiveMessage per 20 s wait (aws.Events' default).
	receivesPerMonth := hoursPerMonth * 3600 / 20
	t.Logf("| mode (100 secrets, %d replicas, 30 days) | calls per replica (measured) | Secrets Manager calls per month | SQS requests per month | cost per month |", replicas)
	t.Logf("|---|---|---|---|---|")
	for _, row := range []struct {
		mode     string
		measured string
		sm, sqs  int
	}{
		{"GetSecretValue per secret, every minute", fmt.Sprintf("%d per poll", perGet), perGet * pollsPerMonth * replicas, 0},
		{"DescribeSecret per secret, every minute (+ GetSecretValue on change)", fmt.Sprintf("%d per poll", perDescribe), perDescribe * pollsPerMonth * replicas, 0},
		{"set-wide ListSecrets, every minute (+ BatchGetSecretValue on change)", fmt.Sprintf("%d per poll", setWide), setWide * pollsPerMonth * replicas, 0},
		{"push through EventBridge and SQS + safety ListSecrets every 15 min", fmt.Sprintf("%d per hour", pushHour), pushHour * hoursPerMonth * replicas, receivesPerMonth * replicas},
	} {
		t.Logf("| %s | %s | %d | %d | $%.2f |", row.mode, row.measured, row.sm, row.sqs, float64(row.sm)*smPrice+float64(row.sqs)*sqsPrice)
	}
	t.Logf("a rotation costs one GetSecretValue per replica under push (%d calls for %d replicas), and EventBridge delivers Secrets Manager's events for free", replicas, replicas)
}

// TestScheduledDeletionRevokes: a secret scheduled for deletion is
// revoked in a Set (Get fails with ErrRevoked from its next check on),
// the others keep serving, and RestoreSecret lifts it at the next check.
func TestScheduledDeletionRevokes(t *testing.T) {
	fake, c := setup(t, 1)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		create(t, c, fmt.Sprintf("prod/svc-%03d", i), fmt.Sprintf(`{"api_key":"%s-%03d"}`, key, i))
	}
	clk := fakeclock.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	set := openSet(t, fake, c, 3, clk)
	_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: sdkaws.String("prod/svc-001"), RecoveryWindowInDays: sdkaws.Int64(7)})
	require.NoError(t, err)
	poll(t, clk, set, fake)
	_, err = set.Get(ctx, "svc-001")
	require.True(t, errors.Is(err, credential.ErrRevoked), "got %v", err)
	assert.Contains(t, err.Error(), "scheduled for deletion")
	st := mustCred(t, set, "svc-001").Status()
	assert.Equal(t, rotate.Revoked, st.Freshness)
	assert.Equal(t, "backend", st.RevokedBy)
	_, err = set.Get(ctx, "svc-002")
	require.NoError(t, err)

	_, err = c.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: sdkaws.String("prod/svc-001")})
	require.NoError(t, err)
	// The revoked credential retries with backoff (1 s at first): the next
	// minute's poll is past it.
	poll(t, clk, set, fake)
	s, err := set.Get(ctx, "svc-001")
	require.NoError(t, err, "restored: the next successful check lifts the revocation")
	assert.True(t, s.Reveal() == key+"-001")
	assert.Empty(t, mustCred(t, set, "svc-001").Status().RevokedBy)
}
