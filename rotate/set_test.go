package rotate_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/rotate"
)

func prodMeta(owner string) credential.Metadata {
	return credential.Metadata{Owner: owner, Purpose: "chat", Environment: "production", System: "api.openai.com", RotationPeriod: 90 * 24 * time.Hour}
}

func TestSetEnvironmentGuard(t *testing.T) {
	b := newBackend()
	b.set("dev-key", keyA)
	b.set("prod-key", keyB)
	cfgs := []rotate.Config{
		{Name: "openai", URL: "fake://prod-key", Metadata: prodMeta("ml")},
		{Name: "openai-dev", URL: "fake://dev-key", Metadata: credential.Metadata{Environment: "development"}},
	}
	_, err := rotate.Open(context.Background(), resolver{b}, cfgs, rotate.WithEnvironment("production"))
	require.Error(t, err)
	assert.True(t, errors.Is(err, credential.ErrInvalid))
	assert.Contains(t, err.Error(), "openai-dev")
	assert.Contains(t, err.Error(), `"development"`)
	assert.Contains(t, err.Error(), `"production"`)

	cfgs[1].AllowEnvironment = true
	s, err := rotate.Open(context.Background(), resolver{b}, cfgs, rotate.WithEnvironment("production"))
	require.NoError(t, err, "an explicit exception is allowed")
	s.Close()

	// The backend's tags count too.
	d := described{b}
	b.desc["dev-key"] = credential.Description{Metadata: credential.Metadata{Environment: "staging"}}
	_, err = rotate.Open(context.Background(), resolver{d}, []rotate.Config{{Name: "x", URL: "fake://dev-key"}}, rotate.WithEnvironment("production"))
	assert.True(t, errors.Is(err, credential.ErrInvalid))
	assert.Contains(t, err.Error(), `"staging"`)
}

func TestSetOpenErrors(t *testing.T) {
	b := newBackend()
	b.set("k", keyA)
	for name, cfgs := range map[string][]rotate.Config{
		"no name":     {{URL: "fake://k"}},
		"duplicate":   {{Name: "a", URL: "fake://k"}, {Name: "a", URL: "fake://k"}},
		"bad scheme":  {{Name: "a", URL: "nope://k"}},
		"fetch fails": {{Name: "a", URL: "fake://k"}, {Name: "b", URL: "fake://missing"}},
	} {
		_, err := rotate.Open(context.Background(), resolver{b}, cfgs)
		assert.Error(t, err, name)
	}
	_, err := rotate.Open(context.Background(), resolver{b}, []rotate.Config{{Name: "b", URL: "fake://missing"}})
	assert.True(t, errors.Is(err, credential.ErrNotFound))
	assert.Contains(t, err.Error(), "credential b")
}

func TestSetInventorySharedRevokeAndSource(t *testing.T) {
	b := newBackend()
	b.set("openai", keyA)
	b.set("openai-batch", keyA) // the same key under two names
	b.set("pinecone", keyB)
	clk := fakeclock.New(epoch)
	s, err := rotate.Open(context.Background(), resolver{b}, []rotate.Config{
		{Name: "openai", URL: "fake://openai", Metadata: prodMeta("ml-team")},
		{Name: "openai-batch", URL: "fake://openai-batch", Metadata: prodMeta("data-team")},
		{Name: "pinecone", URL: "fake://pinecone", Metadata: credential.Metadata{Owner: "search", Scopes: []string{"admin"}}},
	}, rotate.WithClock(clk), rotate.WithEnvironment("production"), rotate.WithInterval(time.Minute, 0))
	require.NoError(t, err)
	defer s.Close()

	assert.Equal(t, []string{"openai", "openai-batch", "pinecone"}, s.Names())
	sec, err := s.Get(context.Background(), "pinecone")
	require.NoError(t, err)
	assert.True(t, same(sec, keyB))
	_, err = s.Get(context.Background(), "nope")
	assert.True(t, errors.Is(err, credential.ErrNotFound))
	nope, err := s.Credential("nope")
	assert.Nil(t, nope)
	assert.True(t, errors.Is(err, credential.ErrNotFound), "a name the set does not hold is a typed error at wiring time")
	assert.Contains(t, err.Error(), "nope")
	oa, err := s.Credential("openai")
	require.NoError(t, err)
	assert.Equal(t, "openai", oa.Name())

	inv := s.Inventory()
	require.Len(t, inv.Credentials, 3)
	byName := map[string]rotate.InventoryItem{}
	for _, it := range inv.Credentials {
		byName[it.Name] = it
	}
	assert.Equal(t, []string{"openai-batch"}, byName["openai"].SharedWith)
	assert.Equal(t, []string{"openai"}, byName["openai-batch"].SharedWith)
	assert.Empty(t, byName["pinecone"].SharedWith)
	assert.Equal(t, "fake", byName["openai"].Backend)
	assert.Equal(t, "ml-team", byName["openai"].Metadata.Owner)
	assert.Contains(t, byName["pinecone"].Findings, `broad scope "admin"`)
	assert.Equal(t, epoch.Add(90*24*time.Hour), byName["openai"].RotationDue)

	require.NoError(t, s.Revoke("openai", "leaked in a support ticket"))
	_, err = s.Get(context.Background(), "openai")
	assert.True(t, errors.Is(err, credential.ErrRevoked))
	inv = s.Inventory()
	assert.True(t, inv.Credentials[0].Revoked)
	assert.Equal(t, "leaked in a support ticket", inv.Credentials[0].RevokeReason)

	// The inventory is JSON and holds no value.
	j, err := json.Marshal(inv)
	require.NoError(t, err)
	for _, k := range []string{keyA, keyB} {
		assert.NotContains(t, string(j), strings.TrimPrefix(k, "sk-proj-FAKE")[:8], "inventory holds a value")
	}
	assert.Contains(t, string(j), `"shared_with":["openai-batch"]`)

	require.NoError(t, s.Restore("openai"))
	_, err = s.Get(context.Background(), "openai")
	assert.NoError(t, err)
	assert.Error(t, s.Revoke("nope", "x"))

	// SecretSource: current values, then the previous one during the overlap.
	var src credential.SecretSource = s
	changes := make(chan struct{}, 10)
	unreg := src.OnChange(func() { changes <- struct{}{} })
	defer unreg()
	count := func() int {
		n := 0
		src.Secrets(func(string, credential.Secret) bool { n++; return true })
		return n
	}
	assert.Equal(t, 3, count())
	b.set("pinecone", keyC)
	c, err := s.Credential("pinecone")
	require.NoError(t, err)
	step(t, clk, c, time.Minute)
	<-changes
	assert.Equal(t, 4, count(), "the previous pinecone key is tracked during the overlap")
}

func TestSetReminders(t *testing.T) {
	b := newBackend()
	b.set("old", keyA, func(v *credential.Version) { v.Created = epoch.Add(-80 * 24 * time.Hour) })
	b.set("new", keyB, func(v *credential.Version) { v.Created = epoch })
	b.set("aws", keyC)
	b.desc["aws"] = credential.Description{RotationEnabled: true, LastRotated: epoch.Add(-29 * 24 * time.Hour), NextRotation: epoch.Add(24 * time.Hour)}
	clk := fakeclock.New(epoch)
	var mu sync.Mutex
	var events []rotate.Event
	s, err := rotate.Open(context.Background(), resolver{described{b}}, []rotate.Config{
		{Name: "old", URL: "fake://old", Metadata: prodMeta("ml")},
		{Name: "new", URL: "fake://new", Metadata: prodMeta("ml")},
		{Name: "aws", URL: "fake://aws", Metadata: credential.Metadata{Owner: "ml"}},
	}, rotate.WithClock(clk), rotate.WithInterval(24*time.Hour, 0), rotate.WithReminders(14*24*time.Hour, time.Hour))
	require.NoError(t, err)
	defer s.Close()
	s.OnEvent(func(e rotate.Event) {
		if e.Kind == rotate.EventRotationDue || e.Kind == rotate.EventRotationOverdue {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}
	})

	inv := s.Inventory()
	get := func(name string) rotate.InventoryItem {
		for _, it := range inv.Credentials {
			if it.Name == name {
				return it
			}
		}
		t.Fatalf("no %s", name)
		return rotate.InventoryItem{}
	}
	assert.True(t, get("old").DueSoon, "80 days into a 90-day period is within the 14-day window")
	assert.Equal(t, epoch.Add(10*24*time.Hour), get("old").RotationDue)
	assert.False(t, get("new").DueSoon)
	assert.Equal(t, epoch.Add(24*time.Hour), get("aws").RotationDue, "the backend's next rotation date counts")
	assert.True(t, get("aws").RotationEnabled)
	assert.Equal(t, epoch.Add(-29*24*time.Hour), get("aws").LastRotated)

	// Eleven days later "old" is overdue: one overdue event, once.
	for i := 0; i < 11*24; i++ {
		require.True(t, clk.WaitTimers(waitCtx(t), 4))
		clk.Advance(time.Hour)
	}
	eventually(t, "overdue reminder", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			if e.Name == "old" && e.Kind == rotate.EventRotationOverdue {
				return true
			}
		}
		return false
	})
	mu.Lock()
	n := 0
	for _, e := range events {
		if e.Name == "old" && e.Kind == rotate.EventRotationOverdue {
			n++
			assert.Equal(t, epoch.Add(10*24*time.Hour), e.Due)
		}
	}
	mu.Unlock()
	assert.Equal(t, 1, n, "a reminder is published once per due date")
	assert.True(t, func() bool {
		for _, it := range s.Inventory().Credentials {
			if it.Name == "old" {
				return it.Overdue
			}
		}
		return false
	}())
}
