package gcp_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	pubsubpb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	smpb "cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/credkit/credkit/internal/gcpfake"
	"github.com/credkit/credkit/provider/gcp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// OpenCensus (a dependency of the Google SDKs) starts its worker in
		// an init function, for the life of the process.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		// The Pub/Sub SDK's stream keep-alive loop returns only at its next
		// ticker after Receive has returned (iterator.go checks drained
		// before it blocks on the tickers): not ours to stop.
		goleak.IgnoreTopFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).streamKeepAliveHandler"),
	)
}

const (
	project = "credkit-test"
	topic   = "projects/credkit-test/topics/secret-events"
	key     = "ckt_gcpQzXvKwJqYzPxWvQkZjXyVqWzKxJvGq"
)

// env is one fake Secret Manager with a client.
type env struct {
	fake *gcpfake.Server
	c    *secretmanager.Client
}

func setup(t testing.TB) *env {
	t.Helper()
	fake := gcpfake.New()
	t.Cleanup(fake.Close)
	c, err := fake.Client(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &env{fake: fake, c: c}
}

func secretName(id string) string { return "projects/" + project + "/secrets/" + id }

// create makes a secret with one version holding value, publishing to the
// topic when withTopic.
func (e *env) create(t testing.TB, name, value string, mutate ...func(*smpb.Secret)) {
	t.Helper()
	s := &smpb.Secret{Replication: &smpb.Replication{Replication: &smpb.Replication_Automatic_{Automatic: &smpb.Replication_Automatic{}}}}
	for _, m := range mutate {
		m(s)
	}
	parent, id := splitName(name)
	_, err := e.c.CreateSecret(context.Background(), &smpb.CreateSecretRequest{Parent: parent, SecretId: id, Secret: s})
	require.NoError(t, err)
	e.add(t, name, value)
}

func splitName(name string) (parent, id string) {
	i := len(name) - 1
	for name[i] != '/' {
		i--
	}
	return name[:i-len("/secrets")], name[i+1:]
}

func withTopic(s *smpb.Secret) { s.Topics = []*smpb.Topic{{Name: topic}} }

// add adds a version and returns its number.
func (e *env) add(t testing.TB, name, value string) string {
	t.Helper()
	v, err := e.c.AddSecretVersion(context.Background(), &smpb.AddSecretVersionRequest{Parent: name, Payload: &smpb.SecretPayload{Data: []byte(value)}})
	require.NoError(t, err)
	return v.Name[len(name+"/versions/"):]
}

func (e *env) disable(t testing.TB, name, version string) {
	t.Helper()
	_, err := e.c.DisableSecretVersion(context.Background(), &smpb.DisableSecretVersionRequest{Name: name + "/versions/" + version})
	require.NoError(t, err)
}

func (e *env) enable(t testing.TB, name, version string) {
	t.Helper()
	_, err := e.c.EnableSecretVersion(context.Background(), &smpb.EnableSecretVersionRequest{Name: name + "/versions/" + version})
	require.NoError(t, err)
}

func (e *env) destroy(t testing.TB, name, version string) {
	t.Helper()
	_, err := e.c.DestroySecretVersion(context.Background(), &smpb.DestroySecretVersionRequest{Name: name + "/versions/" + version})
	require.NoError(t, err)
}

func (e *env) setAliases(t testing.TB, name string, aliases map[string]int64) {
	t.Helper()
	_, err := e.c.UpdateSecret(context.Background(), &smpb.UpdateSecretRequest{
		Secret:     &smpb.Secret{Name: name, VersionAliases: aliases},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"version_aliases"}},
	})
	require.NoError(t, err)
}

// pubsubClient returns a Pub/Sub client on the fake, with the topic the
// secrets publish to.
func (e *env) pubsubClient(t testing.TB) *pubsub.Client {
	t.Helper()
	ps, err := e.fake.PubSubClient(context.Background(), project)
	require.NoError(t, err)
	t.Cleanup(func() { ps.Close() })
	_, err = ps.TopicAdminClient.CreateTopic(context.Background(), &pubsubpb.Topic{Name: topic})
	if err != nil {
		// Another replica's client made it already.
		_, gerr := ps.TopicAdminClient.GetTopic(context.Background(), &pubsubpb.GetTopicRequest{Topic: topic})
		require.NoError(t, gerr)
	}
	return ps
}

// notifierReceiving waits for the Notifier's first Receive to start (its
// event, not a poll) and checks that push then counts as healthy.
func notifierReceiving(t testing.TB, n *gcp.Notifier) {
	t.Helper()
	select {
	case <-n.Started():
	case <-time.After(10 * time.Second):
		t.Fatal("the Notifier never started receiving")
	}
	require.True(t, n.PushHealthy(), "receiving, with no failure yet, is healthy push")
}
