package aws_test

import (
	"context"
	"fmt"
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
	"github.com/credkit/credkit/provider/providertest"
	"github.com/credkit/credkit/rotate"
)

// replica is one simulated process: its own queue, Events receiver and Set.
type replica struct {
	queue  string
	events *aws.Events
	set    *rotate.Set
}

func newReplica(t *testing.T, fake *awsfake.Server, c *secretsmanager.Client, name string, n int, clk *fakeclock.Clock, opts ...aws.EventsOption) *replica {
	t.Helper()
	r := &replica{queue: fake.CreateQueue(name)}
	fake.RouteEvents(r.queue, false)
	r.events = aws.NewEvents(fake.SQSClient(1), r.queue, append([]aws.EventsOption{aws.WithWaitTime(time.Second)}, opts...)...)
	t.Cleanup(func() { r.events.Close() })
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("aws-sm", aws.NewOpener(aws.WithClient(c), aws.WithEventQueue(r.events))))
	var cfgs []rotate.Config
	for i := 0; i < n; i++ {
		cfgs = append(cfgs, rotate.Config{Name: fmt.Sprintf("svc-%03d", i), URL: fmt.Sprintf("aws-sm://prod/svc-%03d#api_key", i)})
	}
	set, err := rotate.Open(context.Background(), mux, cfgs, rotate.WithClock(clk), rotate.WithInterval(time.Hour, 0))
	require.NoError(t, err)
	t.Cleanup(func() { set.Close() })
	r.set = set
	return r
}

func waitValue(t *testing.T, set *rotate.Set, name, want string) {
	t.Helper()
	c := mustCred(t, set, name)
	got := make(chan struct{}, 1)
	defer c.OnRotate(func(rotate.Event) {
		select {
		case got <- struct{}{}:
		default:
		}
	})()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		if s, err := c.Get(context.Background()); err == nil && s.Reveal() == want {
			return
		}
		select {
		case <-got:
		case <-deadline.C:
			t.Fatalf("%s did not receive the pushed rotation", name)
		}
	}
}

// TestPushReachesEveryReplicaWithoutPolling: a Set of 100 secrets on each
// of 3 replicas, each with its own queue; a rotation reaches all three by
// push alone (the fake clock never moves, so no poll ever runs), each
// replica fetching once; an event for the version already held costs no
// call at all.
func TestPushReachesEveryReplicaWithoutPolling(t *testing.T) {
	fake, c := setup(t, 1)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		create(t, c, fmt.Sprintf("prod/svc-%03d", i), fmt.Sprintf(`{"api_key":"%s-%03d-v1"}`, key, i))
	}
	clk := fakeclock.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	var reps []*replica
	for i := 0; i < 3; i++ {
		reps = append(reps, newReplica(t, fake, c, fmt.Sprintf("replica-%d", i), 100, clk))
	}
	// The creation events were queued before the queues existed for some
	// replicas and after for others; let every queue drain.
	for _, r := range reps {
		require.Eventually(t, func() bool { return fake.QueueDepth(r.queue) == 0 }, 10*time.Second, time.Millisecond)
	}
	fake.ResetCalls()

	out, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: sdkaws.String("prod/svc-042"), SecretString: sdkaws.String(`{"api_key":"` + key + `-042-v2"}`)})
	require.NoError(t, err)
	for _, r := range reps {
		waitValue(t, r.set, "svc-042", key+"-042-v2")
	}
	assert.Equal(t, 3, fake.Calls("GetSecretValue"), "one fetch per replica")
	assert.Zero(t, fake.Calls("DescribeSecret"), "the event's version stands in for DescribeSecret")
	assert.Zero(t, fake.Calls("ListSecrets"), "no poll ran")
	for _, r := range reps {
		require.Eventually(t, func() bool { return fake.QueueDepth(r.queue) == 0 }, 10*time.Second, time.Millisecond, "handled messages are deleted")
		assert.True(t, r.events.PushHealthy())
	}

	// A label event naming the version every replica already holds.
	fake.ResetCalls()
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/svc-042-abcdef"
	body := fmt.Sprintf(`{"version":"0","detail-type":"Secret Label Updated","source":"aws.secretsmanager","resources":[%q],"detail":{"name":"prod/svc-042","labelUpdated":"AWSCURRENT","versionId":%q}}`, arn, sdkaws.ToString(out.VersionId))
	clk.Advance(time.Second) // so the check the event triggers has a new LastAttempt; no poll is due
	for _, r := range reps {
		fake.SendRaw(r.queue, body)
		require.Eventually(t, func() bool { return mustCred(t, r.set, "svc-042").Status().LastAttempt.Equal(clk.Now()) },
			10*time.Second, time.Millisecond, "the event triggers a check")
	}
	assert.Zero(t, fake.Calls("GetSecretValue")+fake.Calls("DescribeSecret"), "an event for the version held fetches nothing")
}

// TestEventsDropPoisonAndUnderstandSNS: malformed, foreign and oversized
// messages are dropped and deleted, never retried forever and never a
// panic; an SNS envelope is unwrapped; a CloudTrail event of a deletion
// pushes a check.
func TestEventsDropPoisonAndUnderstandSNS(t *testing.T) {
	fake, c := setup(t, 1)
	create(t, c, "prod/svc-000", `{"api_key":"`+key+`-000-v1"}`)
	q := fake.CreateQueue("replica-sns")
	fake.RouteEvents(q, true)
	ev := aws.NewEvents(fake.SQSClient(1), q, aws.WithWaitTime(time.Second))
	defer ev.Close()
	p := aws.New(c).WithEvents(ev)
	calls := make(chan struct{}, 16)
	stop, err := p.NotifyChange("prod/svc-000#api_key", func() { calls <- struct{}{} })
	require.NoError(t, err)
	defer stop()

	poison := []string{
		"not json", `{"source":"aws.s3","detail-type":"Object Created"}`, `[1,2,3]`, `{"Type":"Notification","Message":"{broken"}`,
		`{"source":"aws.secretsmanager","detail-type":"Secret Label Updated","detail":{}}`,
		`{"source":"aws.secretsmanager","detail-type":"AWS API Call via CloudTrail","detail":{"eventSource":"s3.amazonaws.com"}}`,
		string(make([]byte, 300<<10)),
	}
	for _, b := range poison {
		fake.SendRaw(q, b)
	}
	require.Eventually(t, func() bool { return ev.Stats().Dropped == int64(len(poison)) && fake.QueueDepth(q) == 0 }, 10*time.Second, time.Millisecond)
	assert.Empty(t, calls, "no poison message notified anyone")

	_, err = c.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: sdkaws.String("prod/svc-000"), SecretString: sdkaws.String(`{"api_key":"` + key + `-000-v2"}`)})
	require.NoError(t, err)
	select {
	case <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("the SNS-wrapped label event did not notify")
	}

	fake.SendRaw(q, `{"source":"aws.secretsmanager","detail-type":"AWS API Call via CloudTrail","detail":{"eventSource":"secretsmanager.amazonaws.com","eventName":"DeleteSecret","requestParameters":{"secretId":"prod/svc-000"}}}`)
	select {
	case <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("the CloudTrail deletion event did not notify")
	}
	stop()
	fake.SendRaw(q, `{"source":"aws.secretsmanager","detail-type":"AWS API Call via CloudTrail","detail":{"eventSource":"secretsmanager.amazonaws.com","eventName":"DeleteSecret","requestParameters":{"secretId":"prod/svc-000"}}}`)
	require.Eventually(t, func() bool { return fake.QueueDepth(q) == 0 }, 10*time.Second, time.Millisecond)
	assert.Empty(t, calls, "no call after stop")
}

// TestQueueOutageReportsUnhealthyAndRecovers: while ReceiveMessage fails
// the receiver is unhealthy (so rotate polls at its normal interval) and
// backs off on its clock; when the queue answers again it is healthy and
// the events queued meanwhile are delivered.
func TestQueueOutageReportsUnhealthyAndRecovers(t *testing.T) {
	fake, c := setup(t, 1)
	create(t, c, "prod/svc-000", `{"api_key":"`+key+`-000-v1"}`)
	clk := fakeclock.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	q := fake.CreateQueue("replica-outage")
	fake.RouteEvents(q, false)
	fake.SetFault("ReceiveMessage", &awsfake.Fault{Code: "AWS.SimpleQueueService.NonExistentQueue", Status: 400})
	ev := aws.NewEvents(fake.SQSClient(1), q, aws.WithWaitTime(time.Second), aws.WithEventsClock(clk), aws.WithReceiveBackoff(time.Second, time.Minute))
	defer ev.Close()
	p := aws.New(c).WithEvents(ev)
	calls := make(chan struct{}, 4)
	stop, err := p.NotifyChange("prod/svc-000#api_key", func() { calls <- struct{}{} })
	require.NoError(t, err)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Five minutes of outage on the fake clock: each failed receive waits
	// for its backoff timer.
	start := clk.Now()
	for clk.Now().Sub(start) < 5*time.Minute {
		require.True(t, clk.WaitTimers(ctx, 1), "the receiver did not back off")
		assert.False(t, p.PushHealthy())
		clk.AdvanceToNext()
	}
	failedCalls := fake.Calls("ReceiveMessage")
	assert.Less(t, failedCalls, 40, "backoff bounds the calls during 5 minutes of outage")
	_, err = c.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: sdkaws.String("prod/svc-000"), SecretString: sdkaws.String(`{"api_key":"` + key + `-000-v2"}`)})
	require.NoError(t, err)

	// The receiver waits on its backoff timer while the queue recovers.
	require.True(t, clk.WaitTimers(ctx, 1))
	assert.False(t, p.PushHealthy())
	fake.SetFault("ReceiveMessage", nil)
	clk.AdvanceToNext()
	select {
	case <-calls:
	case <-ctx.Done():
		t.Fatal("the event queued during the outage was not delivered")
	}
	assert.True(t, p.PushHealthy())
}

type pushHarness struct {
	harness
	pp *aws.PushProvider
}

func (h *pushHarness) Provider() credential.Provider { return h.pp }

// TestPushConformance runs the conformance suite on a PushProvider: its
// notifier rules included.
func TestPushConformance(t *testing.T) {
	fake, c := setup(t, 1)
	q := fake.CreateQueue("conformance")
	fake.RouteEvents(q, false)
	ev := aws.NewEvents(fake.SQSClient(1), q, aws.WithWaitTime(time.Second))
	defer ev.Close()
	providertest.Run(t, &pushHarness{harness: harness{fake: fake, c: c, p: aws.New(c)}, pp: aws.New(c).WithEvents(ev)})
}

// TestQueueOutageRestoresTheNormalInterval: 100 secrets on each of 3
// replicas, each with its own queue, on a fake clock. While every queue is
// read, each replica's Set polls (one ListSecrets) every 15 minutes
// instead of every minute; the queues failing for 5 minutes put every Set
// back on the 1-minute interval within a minute, and they go back to the
// slow one once the queues recover. Every credential's Status shows the
// mode.
func TestQueueOutageRestoresTheNormalInterval(t *testing.T) {
	fake, c := setup(t, 1)
	for i := 0; i < 100; i++ {
		create(t, c, fmt.Sprintf("prod/svc-%03d", i), fmt.Sprintf(`{"api_key":"%s-%03d-v1"}`, key, i))
	}
	clk := fakeclock.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	var reps []*replica
	for i := 0; i < 3; i++ {
		r := &replica{queue: fake.CreateQueue(fmt.Sprintf("replica-%d", i))}
		fake.RouteEvents(r.queue, false)
		// The receiver's backoff runs on the real clock (a few ms), so the
		// fake clock drives only the Sets.
		r.events = aws.NewEvents(fake.SQSClient(1), r.queue, aws.WithWaitTime(time.Second), aws.WithReceiveBackoff(time.Millisecond, 5*time.Millisecond))
		t.Cleanup(func() { r.events.Close() })
		mux := provider.NewURLMux()
		require.NoError(t, mux.Register("aws-sm", aws.NewOpener(aws.WithClient(c), aws.WithEventQueue(r.events))))
		var cfgs []rotate.Config
		for j := 0; j < 100; j++ {
			cfgs = append(cfgs, rotate.Config{Name: fmt.Sprintf("svc-%03d", j), URL: fmt.Sprintf("aws-sm://prod/svc-%03d#api_key", j)})
		}
		set, err := rotate.Open(context.Background(), mux, cfgs, rotate.WithClock(clk), rotate.WithInterval(time.Minute, 0))
		require.NoError(t, err)
		t.Cleanup(func() { set.Close() })
		r.set = set
		reps = append(reps, r)
	}
	healthy := func(want bool) {
		t.Helper()
		for _, r := range reps {
			if want {
				// A foreign message ends the long poll in flight at once
				// (and is dropped): no need to wait out its second.
				fake.SendRaw(r.queue, `{"source":"aws.s3","detail-type":"Object Created"}`)
			}
		}
		for _, r := range reps {
			require.Eventually(t, func() bool { return r.events.PushHealthy() == want }, 10*time.Second, time.Millisecond)
		}
	}
	// Per replica: 100 housekeeping timers, the batch group's, the
	// reminders'.
	timers := 3 * (100 + 2)
	minutes := func(n int) int {
		t.Helper()
		before := fake.Calls("ListSecrets")
		for i := 0; i < n; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			require.True(t, clk.WaitTimers(ctx, timers))
			clk.Advance(time.Minute)
			require.True(t, clk.WaitTimers(ctx, timers), "a Set did not finish its wake")
			cancel()
		}
		return fake.Calls("ListSecrets") - before
	}
	mode := func() rotate.Mode {
		t.Helper()
		m := mustCred(t, reps[0].set, "svc-042").Status().Mode
		for _, r := range reps {
			for _, n := range []string{"svc-000", "svc-042", "svc-099"} {
				require.Equal(t, m, mustCred(t, r.set, n).Status().Mode)
			}
		}
		return m
	}
	healthy(true)
	assert.Equal(t, rotate.ModePush, mode())

	healthyHour := minutes(60)
	t.Logf("queues read: %d ListSecrets in 60 minutes over 3 replicas (at +1, +16, +31, +46 min each)", healthyHour)
	assert.Equal(t, 3*4, healthyHour)
	assert.Equal(t, rotate.ModePush, mode())

	fake.SetFault("ReceiveMessage", &awsfake.Fault{Code: "InternalError", Status: 500})
	healthy(false)
	assert.Equal(t, rotate.ModePoll, mode())
	outage := minutes(5)
	t.Logf("queues failing: %d ListSecrets in 5 minutes over 3 replicas", outage)
	assert.Equal(t, 3*5, outage, "every replica polls every minute while its queue fails")
	for _, r := range reps {
		s, err := r.set.Get(context.Background(), "svc-007")
		require.NoError(t, err)
		assert.True(t, s.Reveal() == key+"-007-v1")
	}

	fake.SetFault("ReceiveMessage", nil)
	healthy(true)
	recovered := minutes(60)
	t.Logf("queues read again: %d ListSecrets in the next 60 minutes over 3 replicas (one normal poll, then every 15 min)", recovered)
	assert.Equal(t, 3*4, recovered)
	assert.Equal(t, rotate.ModePush, mode())
	st := mustCred(t, reps[2].set, "svc-099").Status()
	assert.Equal(t, 15*time.Minute, st.NextRefresh.Sub(st.LastSuccess))
}
