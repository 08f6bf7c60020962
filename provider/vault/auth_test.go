package vault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/internal/vaultfake"
	"github.com/credkit/credkit/provider/providertest"
	"github.com/credkit/credkit/provider/vault"
	"github.com/credkit/credkit/rotate"
)

// syncBuffer is a log sink safe for the provider's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const (
	roleID   = "FAKE-Zq0b1e2c3dKx"
	secretID = "FAKE-QzXvKwJqYzPxWvQk"
	saJWT    = "eyJhbGciOiJSUzI1NiJ9.FAKEsaQzXvKwJqYz.FAKEsig"
)

// authSetup starts a fake with a KV secret and a provider that has no
// token of its own: it must log in with a.
func authSetup(t *testing.T, a vault.Auth, logs *syncBuffer) (*vaultfake.Server, *fakeclock.Clock, *vault.Provider) {
	t.Helper()
	clk := fakeclock.New(t0)
	fake := vaultfake.New(clk)
	t.Cleanup(fake.Close)
	fake.Put("secret", "prod/openai", map[string]any{"api_key": key})
	opts := []vault.Option{vault.WithClock(clk), vault.WithAuth(a)}
	if logs != nil {
		opts = append(opts, vault.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	p := vault.New(fake.Client(""), opts...)
	t.Cleanup(func() { _ = p.Close() })
	return fake, clk, p
}

// leak8 returns the offset of the first 8 bytes of v found in text, or -1.
func leak8(text, v string) int {
	for i := 0; i+8 <= len(v); i++ {
		if strings.Contains(text, v[i:i+8]) {
			return i
		}
	}
	return -1
}

func currentToken(t *testing.T, p *vault.Provider) string {
	t.Helper()
	v, err := p.Fetch(context.Background(), vault.TokenRef)
	require.NoError(t, err)
	return v.Secret.Reveal()
}

// TestAppRoleRenewalAndReloginAfterMaxTTL: an AppRole token (TTL 20m, max
// TTL 1h) is renewed at two thirds of its TTL and replaced by a new login
// before its max TTL, for three max TTLs; every fetch meanwhile succeeds
// without a 403.
func TestAppRoleRenewalAndReloginAfterMaxTTL(t *testing.T) {
	dir := t.TempDir()
	sidFile := filepath.Join(dir, "secret-id")
	require.NoError(t, os.WriteFile(sidFile, []byte(secretID+"\n"), 0o600))
	t.Setenv("TEST_VAULT_ROLE_ID", roleID)
	var logs syncBuffer
	fake, clk, p := authSetup(t, &vault.AppRoleAuth{RoleIDEnv: "TEST_VAULT_ROLE_ID", SecretIDFile: sidFile}, &logs)
	fake.AddAppRole("app", vaultfake.AppRole{RoleID: roleID, SecretID: secretID, TokenTTL: 20 * time.Minute, TokenMaxTTL: time.Hour})
	ctx := context.Background()

	_, err := p.Fetch(ctx, "secret/prod/openai#api_key")
	require.NoError(t, err)
	assert.Equal(t, 1, fake.Calls("PUT auth/approle/login"))
	tokens := map[string]bool{currentToken(t, p): true}
	fetches := 1
	waitTimers(t, clk, 1) // the token's renewal timer
	for fake.Calls("PUT auth/approle/login") < 4 {
		require.Less(t, clk.Now().Sub(t0), 5*time.Hour)
		clk.AdvanceToNext()
		waitTimers(t, clk, 1)
		_, err := p.Fetch(ctx, "secret/prod/openai#api_key")
		require.NoError(t, err, "at %v", clk.Now().Sub(t0))
		fetches++
		st := p.AuthStatus()
		require.True(t, st.Authenticated)
		require.True(t, clk.Now().Before(st.Expires))
		tokens[currentToken(t, p)] = true
	}
	st := p.AuthStatus()
	t.Logf("3 token max TTLs in %v: %d logins, %d renewals, %d fetches", clk.Now().Sub(t0), st.Logins, st.Renewals, fetches)
	assert.Equal(t, 4, st.Logins)
	assert.Equal(t, 12, st.Renewals, "4 renewals per token, the last one capped by the max TTL")
	assert.Equal(t, 12, fake.Calls("PUT auth/token/renew-self"))
	assert.Equal(t, fetches, fake.Calls("GET secret/data/prod/openai"), "no request was answered 403 and retried")
	assert.Len(t, tokens, 4)
	assert.Equal(t, "approle", st.Method)
	require.NoError(t, p.Close())
	for tok := range tokens {
		// Tokens are random hex after their prefix: any 4 of their bytes
		// can match a log's digits by chance, 8 cannot.
		assert.Equal(t, -1, leak8(logs.String(), tok), "a token in the log")
	}
	assert.Equal(t, -1, providertest.Leak(logs.String(), secretID), "the secret_id in the log")
}

// TestReloginAfterRevoke: a revoked token is replaced by one login on the
// next request's 403, and by the renewal loop when no request comes first.
func TestReloginAfterRevoke(t *testing.T) {
	fake, clk, p := authSetup(t, &vault.AppRoleAuth{RoleID: credential.NewSecret(roleID), SecretID: credential.NewSecret(secretID)}, nil)
	fake.AddAppRole("app", vaultfake.AppRole{RoleID: roleID, SecretID: secretID, TokenTTL: 20 * time.Minute, TokenMaxTTL: time.Hour})
	ctx := context.Background()
	_, err := p.Fetch(ctx, "secret/prod/openai#api_key")
	require.NoError(t, err)
	fake.RevokeToken(currentToken(t, p))

	v, err := p.Fetch(ctx, "secret/prod/openai#api_key")
	require.NoError(t, err, "a 403 causes one re-login and one retry")
	assert.True(t, v.Secret.Reveal() == key)
	assert.Equal(t, 2, fake.Calls("PUT auth/approle/login"))

	// A path the policy denies causes no re-login: the token is looked up
	// and found valid.
	fake.Deny("secret/data/denied")
	fake.Put("secret", "denied", map[string]any{"value": key})
	for i := 0; i < 3; i++ {
		_, err = p.Fetch(ctx, "secret/denied?kv=2")
		require.ErrorIs(t, err, credential.ErrPermission)
	}
	assert.Equal(t, 2, fake.Calls("PUT auth/approle/login"))
	assert.Equal(t, 4, fake.Calls("GET auth/token/lookup-self"), "one lookup after the revoke, one per denied request")

	// Revoked while idle: the renewal is refused and the loop logs in.
	// (The loop may still be re-planning after the last login: a step that
	// finds no timer armed moves no time, hence the loop.)
	waitTimers(t, clk, 1)
	fake.RevokeToken(currentToken(t, p))
	for i := 0; fake.Calls("PUT auth/approle/login") < 3; i++ {
		require.Less(t, i, 5, "the loop did not log in again")
		clk.AdvanceToNext()
		waitTimers(t, clk, 1)
	}
	assert.Less(t, clk.Now().Sub(t0), 20*time.Minute, "at the first renewal, before the token's TTL")
	assert.Equal(t, 1, fake.Calls("PUT auth/token/renew-self"), "the refused renewal")
	assert.True(t, p.AuthStatus().Authenticated)
	require.NoError(t, p.CheckAuth(ctx))
}

// TestKubernetesLogin logs in with the service-account token file, read
// again at each login (the kubelet rotates it).
func TestKubernetesLogin(t *testing.T) {
	f := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(f, []byte(saJWT), 0o600))
	fake, _, p := authSetup(t, &vault.KubernetesAuth{Role: "app", TokenFile: f}, nil)
	fake.AddKubernetesRole("app", vaultfake.LoginRole{JWT: saJWT, TokenTTL: time.Hour, TokenMaxTTL: 24 * time.Hour})
	ctx := context.Background()
	_, err := p.Fetch(ctx, "secret/prod/openai#api_key")
	require.NoError(t, err)
	assert.Equal(t, 1, fake.Calls("PUT auth/kubernetes/login"))
	assert.Equal(t, "kubernetes", p.AuthStatus().Method)

	// The kubelet rotates the file; the old token is revoked.
	require.NoError(t, os.WriteFile(f, []byte(saJWT+"2"), 0o600))
	fake.AddKubernetesRole("app", vaultfake.LoginRole{JWT: saJWT + "2", TokenTTL: time.Hour, TokenMaxTTL: 24 * time.Hour})
	fake.RevokeToken(currentToken(t, p))
	_, err = p.Fetch(ctx, "secret/prod/openai#api_key")
	require.NoError(t, err)
	assert.Equal(t, 2, fake.Calls("PUT auth/kubernetes/login"))
}

// TestJWTLogin logs in with a JWT from the environment.
func TestJWTLogin(t *testing.T) {
	t.Setenv("TEST_VAULT_JWT", saJWT)
	fake, _, p := authSetup(t, &vault.JWTAuth{Role: "ci", Env: "TEST_VAULT_JWT"}, nil)
	fake.AddJWTRole("ci", vaultfake.LoginRole{JWT: saJWT, TokenTTL: time.Hour})
	_, err := p.Fetch(context.Background(), "secret/prod/openai#api_key")
	require.NoError(t, err)
	assert.Equal(t, 1, fake.Calls("PUT auth/jwt/login"))
}

// TestLoginRefused: a refused login is ErrPermission, names no credential
// value, and shows in the status.
func TestLoginRefused(t *testing.T) {
	fake, _, p := authSetup(t, &vault.AppRoleAuth{RoleID: credential.NewSecret(roleID), SecretID: credential.NewSecret(secretID + "x")}, nil)
	fake.AddAppRole("app", vaultfake.AppRole{RoleID: roleID, SecretID: secretID, TokenTTL: time.Hour})
	_, err := p.Fetch(context.Background(), "secret/prod/openai#api_key")
	require.ErrorIs(t, err, credential.ErrPermission)
	assert.Equal(t, -1, providertest.Leak(err.Error(), secretID))
	assert.Equal(t, -1, providertest.Leak(err.Error(), roleID))
	st := p.AuthStatus()
	assert.False(t, st.Authenticated)
	assert.Equal(t, "permission", st.LastError)
	assert.ErrorIs(t, p.CheckAuth(context.Background()), credential.ErrPermission)
}

// TestStaticTokenRenewed: the client's own token (VAULT_TOKEN) is looked
// up and renewed with renew-self while it is renewable; as TokenRef it is
// a credential whose Expires follows the renewals.
func TestStaticTokenRenewed(t *testing.T) {
	clk := fakeclock.New(t0)
	fake := vaultfake.New(clk)
	defer fake.Close()
	fake.Put("secret", "a", map[string]any{"value": key})
	p := vault.New(fake.Client(fake.Token(30*time.Minute, 2*time.Hour)), vault.WithClock(clk))
	defer p.Close()
	ctx := context.Background()
	tok, err := rotate.Watch(ctx, "vault-token", p.Leases(), vault.TokenRef, rotate.WithClock(clk))
	require.NoError(t, err)
	defer tok.Close()
	v, _ := tok.Version()
	assert.Equal(t, t0.Add(30*time.Minute), v.Expires)
	waitTimers(t, clk, 2)
	for p.AuthStatus().Renewals < 2 {
		clk.AdvanceToNext()
		waitTimers(t, clk, 2)
	}
	st := p.AuthStatus()
	assert.True(t, st.Expires.After(t0.Add(30*time.Minute)))
	assert.Equal(t, 1, st.Logins, "a given token is looked up once")
	d, err := p.Describe(ctx, vault.TokenRef)
	require.NoError(t, err)
	assert.Equal(t, "token", d.Metadata.Tags["vault_auth_method"])
}

// leakyAuth is a custom Auth whose error quotes what it sent, as a careless
// one might.
type leakyAuth struct{ nilToken bool }

func (leakyAuth) Method() string { return "custom" }
func (a leakyAuth) Login(context.Context, *api.Client) (*api.SecretAuth, error) {
	if a.nilToken {
		return nil, nil
	}
	return nil, errors.New("login with secret_id " + secretID + " failed")
}

// Regression: a custom Auth's error text was kept as the cause, and a
// Login returning neither a token nor an error panicked.
func TestCustomAuthErrorsAreNotQuoted(t *testing.T) {
	_, _, p := authSetup(t, leakyAuth{}, nil)
	_, err := p.Fetch(context.Background(), "secret/prod/openai#api_key")
	require.ErrorIs(t, err, credential.ErrPermission)
	assert.Equal(t, -1, providertest.Leak(fmt.Sprintf("%v %+v", err, err), secretID))
	assert.Contains(t, err.Error(), "custom login failed")

	_, _, p2 := authSetup(t, leakyAuth{nilToken: true}, nil)
	_, err = p2.Fetch(context.Background(), "secret/prod/openai#api_key")
	require.ErrorIs(t, err, credential.ErrUnavailable)
}
