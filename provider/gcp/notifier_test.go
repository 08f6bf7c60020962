package gcp_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	pubsubpb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider/gcp"
)

func TestNotifierOptions(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	ps := e.pubsubClient(t)
	_, err := gcp.NewNotifier(ctx, ps)
	assert.True(t, errors.Is(err, credential.ErrInvalid), "neither option")
	_, err = gcp.NewNotifier(ctx, ps, gcp.WithSubscription("s"), gcp.WithTopic(topic, 0))
	assert.True(t, errors.Is(err, credential.ErrInvalid), "both options")
	_, err = gcp.NewNotifier(ctx, ps, gcp.WithTopic("projects/credkit-test/topics/missing", 0))
	assert.True(t, errors.Is(err, credential.ErrNotFound), "a missing topic: got %v", err)

	// The per-process subscription has an expiration policy of at least a
	// day and a short retention.
	n, err := gcp.NewNotifier(ctx, ps, gcp.WithTopic("secret-events", time.Hour))
	require.NoError(t, err)
	sub, err := ps.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: n.Subscription()})
	require.NoError(t, err)
	assert.Equal(t, topic, sub.Topic, "a topic id is taken in the client's project")
	assert.Equal(t, 24*time.Hour, sub.GetExpirationPolicy().GetTtl().AsDuration(), "Pub/Sub's minimum")
	assert.Equal(t, 10*time.Minute, sub.GetMessageRetentionDuration().AsDuration())
	require.NoError(t, n.Close())
}

// TestNotifierUserSubscription: a named subscription is received from and
// left alone on Close; events of other secrets and kinds wake nobody.
func TestNotifierUserSubscription(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	ps := e.pubsubClient(t)
	// The secrets exist before the subscription: their first versions'
	// events are not delivered to it.
	name := secretName("openai")
	e.create(t, name, key, withTopic)
	e.create(t, secretName("other"), key, withTopic)
	const subName = "projects/credkit-test/subscriptions/replica-a"
	_, err := ps.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: subName, Topic: topic, AckDeadlineSeconds: 10})
	require.NoError(t, err)
	n, err := gcp.NewNotifier(ctx, ps, gcp.WithSubscription("replica-a"))
	require.NoError(t, err)
	assert.Equal(t, subName, n.Subscription())

	woke := make(chan struct{}, 10)
	var calls atomic.Int32
	stop, err := n.NotifyChange(name+"/versions/latest#api_key", func() { calls.Add(1); woke <- struct{}{} })
	require.NoError(t, err)
	_, err = n.NotifyChange("not a ref", func() {})
	assert.True(t, errors.Is(err, credential.ErrInvalid))

	// Another secret's event, and an event type that changes nothing
	// readable, published straight to the topic.
	e.add(t, secretName("other"), key+"-2")
	e.fake.PubSub.Publish(topic, nil, map[string]string{"eventType": "SECRET_CREATE", "secretId": name})
	// The project number in place of the id still matches.
	e.fake.PubSub.Publish(topic, nil, map[string]string{"eventType": "SECRET_VERSION_DISABLE", "secretId": "projects/123456789/secrets/openai"})
	select {
	case <-woke:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
	}
	require.NoError(t, e.fake.Rotate(name))
	select {
	case <-woke:
	case <-time.After(10 * time.Second):
		t.Fatal("SECRET_ROTATE did not wake the watcher")
	}
	// Once all four messages were handled, only two woke the watcher.
	deadline := time.After(10 * time.Second)
	for n.Status().Messages < 4 {
		select {
		case <-deadline:
			t.Fatal("not every message arrived")
		case <-time.After(time.Millisecond):
		}
	}
	assert.Equal(t, int32(2), calls.Load(), "another secret's event and SECRET_CREATE wake nobody")
	stop()
	stop()
	st := n.Status()
	assert.True(t, st.Receiving)
	assert.Equal(t, int64(4), st.Messages)
	assert.False(t, st.LastMessage.IsZero())
	require.NoError(t, n.Close())
	_, err = ps.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: subName})
	assert.NoError(t, err, "a named subscription is not deleted")
}

// TestNotifierMissingSubscription: a subscription that does not exist is
// reported in Status, and Close still returns promptly.
func TestNotifierMissingSubscription(t *testing.T) {
	e := setup(t)
	n, err := gcp.NewNotifier(context.Background(), e.pubsubClient(t), gcp.WithSubscription("projects/credkit-test/subscriptions/missing"))
	require.NoError(t, err)
	deadline := time.After(10 * time.Second)
	for n.Status().LastError == "" {
		select {
		case <-deadline:
			t.Fatal("the receive failure was not reported")
		case <-time.After(time.Millisecond):
		}
	}
	assert.Equal(t, "not_found", n.Status().LastError)
	assert.False(t, n.Status().Receiving)
	assert.False(t, n.PushHealthy(), "a missing subscription is no push: rotate polls at its normal interval")
	done := make(chan struct{})
	go func() { n.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung")
	}
}
