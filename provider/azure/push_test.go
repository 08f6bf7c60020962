package azure_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/azurefake"
	"github.com/credkit/credkit/provider/azure"
	"github.com/credkit/credkit/rotate"
)

// TestPushHealthFollowsTheHandler: a provider reports healthy push while
// an event handler built on it, or on its Opener, is mounted and healthy.
func TestPushHealthFollowsTheHandler(t *testing.T) {
	fake, _, clk := setupClock(t)
	o := opener(fake, clk)
	u, err := url.Parse("azure-kv://" + host(t, fake) + "/svc-000")
	require.NoError(t, err)
	p, _, err := o.OpenURL(context.Background(), u)
	require.NoError(t, err)
	ap := p.(*azure.Provider)
	assert.False(t, ap.PushHealthy(), "no handler: no push")

	var ok atomic.Bool
	ok.Store(true)
	h := azure.NewEventHandler(hookCred(), o, azure.WithPushHealthCheck(ok.Load))
	assert.True(t, ap.PushHealthy(), "a handler on the Opener pushes to every vault it opened")
	ok.Store(false)
	assert.False(t, ap.PushHealthy(), "the handler's own health check fails")
	ok.Store(true)
	require.NoError(t, h.Close())
	require.NoError(t, h.Close())
	assert.False(t, ap.PushHealthy(), "an unmounted handler pushes nothing")

	direct := azure.NewEventHandler(hookCred(), ap)
	assert.True(t, ap.PushHealthy())
	direct.Close()

	// A handler whose shared secret cannot be read refuses deliveries: not
	// healthy until a delivery can be authenticated again.
	broken := azure.NewEventHandler(failingCred{}, ap)
	defer broken.Close()
	srv := httptest.NewServer(broken)
	defer srv.Close()
	assert.True(t, ap.PushHealthy())
	resp := deliver(t, srv.URL+"?code="+hookSecret, kvEvent(azure.EventSecretNewVersionCreated, "svc-000"))
	assert.Equal(t, 503, resp.StatusCode)
	assert.False(t, ap.PushHealthy())
}

type failingCred struct{}

func (failingCred) Name() string { return "hook" }
func (failingCred) Get(context.Context) (credential.Secret, error) {
	return credential.Secret{}, &credential.Error{Op: "get", Name: "hook", Kind: credential.ErrUnavailable}
}
func (failingCred) Metadata() credential.Metadata { return credential.Metadata{} }

func kvEvent(typ, name string) map[string]any {
	return map[string]any{
		"id": "3a6b2a5c-0000-4000-8000-000000000002", "topic": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/fake",
		"subject": name, "eventType": typ, "eventTime": "2026-11-25T09:00:00Z",
		"data": map[string]any{"ObjectType": "Secret", "ObjectName": name}, "dataVersion": "1", "metadataVersion": "1",
	}
}

// azReplica is one simulated process: its own Opener, Set and event
// handler (Event Grid delivers to each replica's webhook).
type azReplica struct {
	set *rotate.Set
	url string
	ev  chan rotate.Event
}

func newAzReplica(t *testing.T, set *rotate.Set, o *azure.Opener) *azReplica {
	t.Helper()
	srv := httptest.NewServer(azure.NewEventHandler(hookCred(), o))
	t.Cleanup(srv.Close)
	r := &azReplica{set: set, url: srv.URL + "?code=" + hookSecret, ev: make(chan rotate.Event, 64)}
	t.Cleanup(set.OnEvent(func(e rotate.Event) { r.ev <- e }))
	return r
}

func (r *azReplica) wait(t *testing.T, kind rotate.EventKind, name string) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case e := <-r.ev:
			if e.Kind == kind && e.Name == name {
				return
			}
		case <-deadline.C:
			t.Fatalf("no %s event for %s", kind, name)
		}
	}
}

// TestDisableByPushRevokesOnEveryReplica: three replicas of a Set of 10
// Key Vault secrets, each with its own Event Grid webhook. Setting a new,
// disabled version of a secret (az keyvault secret set --disabled) makes
// Key Vault publish SecretNewVersionCreated; delivered to every replica,
// it turns into ErrRevoked there, with the clock standing still (no poll).
// A new enabled version, pushed the same way, lifts it everywhere.
func TestDisableByPushRevokesOnEveryReplica(t *testing.T) {
	fake, c, clk := setupClock(t)
	create100(t, c, 10)
	clk.Advance(time.Second)
	var reps []*azReplica
	for i := 0; i < 3; i++ {
		o := opener(fake, clk)
		reps = append(reps, newAzReplica(t, openSet(t, fake, o, 10, clk), o))
	}
	var ev azurefake.Event
	fake.OnNewVersion(func(e azurefake.Event) { ev = e })
	ctx := context.Background()

	put(t, c, "svc-003", `{"api_key":"`+key+`-003-v2"}`, &azsecrets.SecretAttributes{Enabled: to.Ptr(false)}, nil)
	fake.ResetCalls()
	for _, r := range reps {
		require.Equal(t, 200, deliver(t, r.url, newVersionEvent(ev)).StatusCode)
	}
	for _, r := range reps {
		r.wait(t, rotate.EventRevoked, "svc-003")
		_, err := r.set.Get(ctx, "svc-003")
		require.True(t, errors.Is(err, credential.ErrRevoked), "got %v", err)
		assert.NotContains(t, err.Error(), key)
		st := credOf(t, r.set, "svc-003").Status()
		assert.Equal(t, rotate.Revoked, st.Freshness)
		assert.Equal(t, "backend", st.RevokedBy)
		_, err = r.set.Get(ctx, "svc-004")
		require.NoError(t, err, "the other secrets are untouched")
	}
	assert.Equal(t, 3, fake.TotalCalls(), "one GetSecret per replica, no listing: no poll ran")

	put(t, c, "svc-003", `{"api_key":"`+key+`-003-v3"}`, nil, nil)
	for _, r := range reps {
		require.Equal(t, 200, deliver(t, r.url, newVersionEvent(ev)).StatusCode)
	}
	for _, r := range reps {
		r.wait(t, rotate.EventRestored, "svc-003")
		s, err := r.set.Get(ctx, "svc-003")
		require.NoError(t, err)
		assert.True(t, s.Reveal() == fmt.Sprintf("%s-003-v3", key))
		assert.Empty(t, credOf(t, r.set, "svc-003").Status().RevokedBy)
	}
}
