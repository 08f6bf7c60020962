package vault_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/vaultfake"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/providertest"
	"github.com/credkit/credkit/provider/vault"
	"github.com/credkit/credkit/rotate"
)

// TestSetWithKVLeasesAndToken opens a rotate.Set from vault:// URLs: a KV
// key with custom metadata, a database username and password, and the
// Vault token itself. The inventory shows the owner, the lease's and the
// token's expiry, and no value.
func TestSetWithKVLeasesAndToken(t *testing.T) {
	fake, clk, _ := setup(t)
	fake.Put("secret", "prod/openai", map[string]any{"api_key": key})
	fake.SetCustomMetadata("secret", "prod/openai", map[string]string{"owner": "ml@example.com", "environment": "production"})
	fake.DBRole("readonly", vaultfake.DBRole{DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour})
	fake.AddAppRole("app", vaultfake.AppRole{RoleID: roleID, SecretID: secretID, TokenTTL: 2 * time.Hour, TokenMaxTTL: 24 * time.Hour})
	t.Setenv("TEST_VAULT_ROLE_ID", roleID)
	t.Setenv("TEST_VAULT_SECRET_ID", secretID)
	o := vault.NewOpener(vault.WithClient(fake.Client("")), vault.WithProviderOptions(vault.WithClock(clk),
		vault.WithAuth(&vault.AppRoleAuth{RoleIDEnv: "TEST_VAULT_ROLE_ID", SecretIDEnv: "TEST_VAULT_SECRET_ID"})))
	defer o.Close()
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("vault", o))
	ctx := context.Background()
	set, err := rotate.Open(ctx, mux, []rotate.Config{
		{Name: "openai", URL: "vault://secret/prod/openai#api_key"},
		{Name: "db-user", URL: "vault://database/creds/readonly#username"},
		{Name: "db-password", URL: "vault://database/creds/readonly#password"},
		{Name: "vault-token", URL: "vault://auth/token/self"},
	}, rotate.WithClock(clk))
	require.NoError(t, err)
	defer set.Close()

	inv := set.Inventory()
	items := map[string]rotate.InventoryItem{}
	for _, it := range inv.Credentials {
		items[it.Name] = it
	}
	assert.Equal(t, "ml@example.com", items["openai"].Metadata.Owner)
	assert.Equal(t, t0.Add(time.Hour), items["db-user"].Expires)
	assert.Equal(t, t0.Add(time.Hour), items["db-password"].Expires)
	assert.Equal(t, t0.Add(2*time.Hour), items["vault-token"].Expires, "the token is in the inventory with its expiry")
	assert.Equal(t, 1, fake.Calls("GET database/creds/readonly"), "one lease for both fields")
	assert.Equal(t, 1, fake.Calls("PUT auth/approle/login"))

	b, err := json.Marshal(inv)
	require.NoError(t, err)
	tok, err := set.Get(ctx, "vault-token")
	require.NoError(t, err)
	for _, v := range []string{key, secretID} {
		assert.Equal(t, -1, providertest.Leak(string(b), v), "no value in the inventory")
	}
	// The token is hex after its prefix: 4 of its bytes can match a
	// fingerprint or a lease ID by chance, 8 cannot.
	assert.Equal(t, -1, leak8(string(b), tok.Reveal()), "no part of the token in the inventory")
}

// Issue 17 item 5: Vault's dynamic secrets and its token show in the
// inventory as the other short-lived credentials do: short_lived, with
// their TTL, their issuer (the secrets engine's path, the auth mount) and
// subject (the Vault identity entity of the provider's token), and no
// rotation noise — no due date from the lease's or token's expiry or the
// lease's replacement, no "no rotation period" finding — even for a lease
// living longer than a day. A KV secret stays a key.
func TestInventoryShortLivedLeasesAndToken(t *testing.T) {
	fake, clk, _ := setup(t)
	fake.Put("secret", "prod/openai", map[string]any{"api_key": key})
	fake.DBRole("readonly", vaultfake.DBRole{DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour})
	fake.DBRole("reporting", vaultfake.DBRole{DefaultTTL: 768 * time.Hour, MaxTTL: 768 * time.Hour})
	fake.AddAppRole("app", vaultfake.AppRole{RoleID: roleID, SecretID: secretID, TokenTTL: 2 * time.Hour, TokenMaxTTL: 24 * time.Hour})
	t.Setenv("TEST_VAULT_ROLE_ID", roleID)
	t.Setenv("TEST_VAULT_SECRET_ID", secretID)
	o := vault.NewOpener(vault.WithClient(fake.Client("")), vault.WithProviderOptions(vault.WithClock(clk),
		vault.WithAuth(&vault.AppRoleAuth{RoleIDEnv: "TEST_VAULT_ROLE_ID", SecretIDEnv: "TEST_VAULT_SECRET_ID"})))
	defer o.Close()
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("vault", o))
	meta := credential.Metadata{Owner: "data-team", Purpose: "rag retrieval", Environment: "production", System: "postgres"}
	set, err := rotate.Open(context.Background(), mux, []rotate.Config{
		{Name: "openai", URL: "vault://secret/prod/openai#api_key", Metadata: meta},
		{Name: "db-password", URL: "vault://database/creds/readonly#password", Metadata: meta},
		{Name: "reporting-password", URL: "vault://database/creds/reporting#password", Metadata: meta},
		{Name: "vault-token", URL: "vault://auth/token/self", Metadata: meta},
	}, rotate.WithClock(clk))
	require.NoError(t, err)
	defer set.Close()

	entity := vaultfake.EntityID("approle", "app")
	for name, want := range map[string]struct {
		ttl    time.Duration
		issuer string
	}{
		"db-password":        {time.Hour, fake.URL + "/v1/database/creds/readonly"},
		"reporting-password": {768 * time.Hour, fake.URL + "/v1/database/creds/reporting"},
		"vault-token":        {2 * time.Hour, fake.URL + "/v1/auth/approle"},
	} {
		it, ok := set.Item(name)
		require.True(t, ok, name)
		assert.True(t, it.ShortLived, name)
		assert.Equal(t, want.ttl, it.TTL, name)
		assert.Equal(t, want.issuer, it.Issuer, name)
		assert.Equal(t, entity, it.Subject, name)
		assert.Zero(t, it.RotationDue, "%s: a lease's or token's expiry is no rotation due date", name)
		assert.False(t, it.DueSoon || it.Overdue, name)
		assert.Empty(t, it.Findings, name)
	}
	kv, _ := set.Item("openai")
	assert.False(t, kv.ShortLived, "a KV secret is a key")
	assert.Contains(t, kv.Findings, "no rotation period")
	b, err := json.Marshal(set.Inventory())
	require.NoError(t, err)
	tok, err := set.Get(context.Background(), "vault-token")
	require.NoError(t, err)
	assert.Equal(t, -1, leak8(string(b), tok.Reveal()), "no part of the token in the inventory")
	assert.Equal(t, -1, providertest.Leak(string(b), secretID), "no secret ID in the inventory")
}
