package vault_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/internal/vaultfake"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/providertest"
	"github.com/credkit/credkit/provider/vault"
	"github.com/credkit/credkit/rotate"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

const key = "sk-proj-FAKEQzXvKwJqYzPxWvQkZjXyVqWzKxJvGqRx"

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// setup starts a fake on a fake clock and a provider with a root token.
func setup(t *testing.T, opts ...vault.Option) (*vaultfake.Server, *fakeclock.Clock, *vault.Provider) {
	t.Helper()
	clk := fakeclock.New(t0)
	fake := vaultfake.New(clk)
	t.Cleanup(fake.Close)
	p := vault.New(fake.Client(fake.RootToken()), append([]vault.Option{vault.WithClock(clk)}, opts...)...)
	t.Cleanup(func() { _ = p.Close() })
	return fake, clk, p
}

type harness struct {
	fake  *vaultfake.Server
	p     *vault.Provider
	mount string
	kv    int
}

func (h *harness) Provider() credential.Provider { return h.p }
func (h *harness) Create(t *testing.T, name, value string) string {
	h.Update(t, h.mount+"/"+name, value)
	return h.mount + "/" + name
}
func (h *harness) Update(t *testing.T, ref, value string) {
	path := strings.TrimPrefix(ref, h.mount+"/")
	h.fake.Put(h.mount, path, map[string]any{"value": value})
}
func (h *harness) Delete(t *testing.T, ref string) {
	h.fake.SoftDelete(h.mount, strings.TrimPrefix(ref, h.mount+"/"))
}
func (h *harness) Deny(t *testing.T, ref string) {
	path := strings.TrimPrefix(ref, h.mount+"/")
	if h.kv == 2 {
		h.fake.Deny(h.mount + "/data/" + path)
		h.fake.Deny(h.mount + "/metadata/" + path)
		return
	}
	h.fake.Deny(ref)
}
func (h *harness) StoresEmpty() {}
func (h *harness) BadRefs() []string {
	return []string{
		h.mount + "/a\x00b", h.mount + "/a\nb", h.mount + "/../x", h.mount + "//x", "nomount",
		h.mount + "/x?version=abc", h.mount + "/x?kv=3", h.mount + "/x?colour=blue", h.mount + "/x?version=1&version=2",
		"sys/x/y", h.mount + "/x#",
	}
}

func TestConformanceKV2(t *testing.T) {
	fake, _, p := setup(t)
	providertest.Run(t, &harness{fake: fake, p: p, mount: "secret", kv: 2})
}

func TestConformanceKV1(t *testing.T) {
	fake, _, p := setup(t)
	providertest.Run(t, &harness{fake: fake, p: p, mount: "kv", kv: 1})
}

// KV v1 has no versions: the ID is credential.ContentID of the value, keyed
// under the fingerprint key (the operator's fleet key when one is set), so
// two providers, or two replicas sharing the key, agree; never an unkeyed
// hash that would confirm a guessed value offline.
func TestKV1ContentIDIsKeyed(t *testing.T) {
	fake, _, p := setup(t)
	ctx := context.Background()
	fake.Put("kv", "a", map[string]any{"value": key})
	fake.Put("kv", "b", map[string]any{"value": key})
	va, err := p.Fetch(ctx, "kv/a")
	require.NoError(t, err)
	vb, err := p.Fetch(ctx, "kv/b")
	require.NoError(t, err)
	assert.Equal(t, va.ID, vb.ID, "equal values, equal IDs in one provider")
	p2 := vault.New(fake.Client(fake.RootToken()))
	defer p2.Close()
	v2, err := p2.Fetch(ctx, "kv/a")
	require.NoError(t, err)
	assert.Equal(t, va.ID, v2.ID, "rule: one key per process (or fleet), not per provider")
	assert.Equal(t, credential.ContentID(key), va.ID, "rule: the ID follows the fingerprint key")
	for _, sum := range [][]byte{sha256sum(key), sha256sum("credkit content id\x00" + key)} {
		assert.NotContains(t, hex.EncodeToString(sum), va.ID, "rule: no unkeyed hash of the value")
	}
	_, err = p.Fetch(ctx, "kv/a?version=2")
	assert.ErrorIs(t, err, credential.ErrInvalid, "KV v1 has no versions")
}

func TestKV2VersionsFieldsDeleteDestroy(t *testing.T) {
	fake, _, p := setup(t)
	ctx := context.Background()
	fake.Put("secret", "prod/openai", map[string]any{"api_key": key, "org": "org-FAKE"})
	fake.Put("secret", "prod/openai", map[string]any{"api_key": key + "2", "org": "org-FAKE"})

	v, err := p.Fetch(ctx, "secret/prod/openai#api_key")
	require.NoError(t, err)
	assert.Equal(t, "2", v.ID)
	assert.True(t, v.Secret.Reveal() == key+"2", "latest version")
	assert.Equal(t, t0, v.Created)
	// The data/ form of DESIGN.md's example, and kv=2 without the preflight.
	v2, err := p.Fetch(ctx, "secret/data/prod/openai#api_key")
	require.NoError(t, err)
	assert.Equal(t, "2", v2.ID)
	v3, err := p.Fetch(ctx, "secret/prod/openai?kv=2#api_key")
	require.NoError(t, err)
	assert.Equal(t, "2", v3.ID)
	pinned, err := p.Fetch(ctx, "secret/prod/openai#api_key?version=1")
	require.NoError(t, err)
	assert.Equal(t, "1", pinned.ID)
	assert.True(t, pinned.Secret.Reveal() == key, "pinned version")
	_, err = p.Fetch(ctx, "secret/prod/openai")
	assert.ErrorIs(t, err, credential.ErrInvalid, "two fields and no #field")

	// A deleted latest version: ErrNotFound, never an empty value.
	fake.SoftDelete("secret", "prod/openai")
	_, err = p.Fetch(ctx, "secret/prod/openai#api_key")
	assert.ErrorIs(t, err, credential.ErrNotFound)
	_, err = p.CurrentVersion(ctx, "secret/prod/openai#api_key")
	assert.ErrorIs(t, err, credential.ErrNotFound)
	v1, err := p.Fetch(ctx, "secret/prod/openai#api_key?version=1")
	require.NoError(t, err, "an older version is still there")
	assert.Equal(t, "1", v1.ID)
	// A destroyed one: ErrRevoked.
	fake.Destroy("secret", "prod/openai")
	_, err = p.Fetch(ctx, "secret/prod/openai#api_key")
	assert.ErrorIs(t, err, credential.ErrRevoked)
	_, err = p.CurrentVersion(ctx, "secret/prod/openai")
	assert.ErrorIs(t, err, credential.ErrRevoked)

	// Values with NUL, CR or LF are refused.
	fake.Put("secret", "multi", map[string]any{"value": "FAKE-line1\nline2"})
	_, err = p.Fetch(ctx, "secret/multi")
	assert.ErrorIs(t, err, credential.ErrInvalid)
	assert.NotContains(t, err.Error(), "FAKE-line1")
}

func TestNamespace(t *testing.T) {
	fake, _, p := setup(t)
	fake.Put("secret", "prod/openai", map[string]any{"api_key": key})
	_, err := p.Fetch(context.Background(), "secret/prod/openai#api_key?namespace=team-a/ml")
	require.NoError(t, err)
	assert.Equal(t, 1, fake.Calls("[team-a/ml] GET secret/data/prod/openai"), "the namespace setting is sent as X-Vault-Namespace")
	_, err = p.Fetch(context.Background(), "secret/prod/openai#api_key")
	require.NoError(t, err)
	assert.Equal(t, 1, fake.Calls("[team-a/ml] GET secret/data/prod/openai"), "and only for that ref")
}

func TestDescribeCustomMetadata(t *testing.T) {
	fake, _, p := setup(t, vault.WithMetadataNames(vault.MetadataNames{Owner: "team", Purpose: "why", Environment: "env", System: "system", Scopes: "scopes", RotationPeriod: "rotate_every"}))
	fake.Put("secret", "prod/openai", map[string]any{"api_key": key})
	fake.SetCustomMetadata("secret", "prod/openai", map[string]string{"team": "ml@example.com", "why": "chat", "env": "production", "system": "api.openai.com", "scopes": "model.read, model.request", "rotate_every": "720h"})
	d, err := p.Describe(context.Background(), "secret/prod/openai#api_key")
	require.NoError(t, err)
	assert.Equal(t, "ml@example.com", d.Metadata.Owner)
	assert.Equal(t, "chat", d.Metadata.Purpose)
	assert.Equal(t, "production", d.Metadata.Environment)
	assert.Equal(t, "api.openai.com", d.Metadata.System)
	assert.Equal(t, []string{"model.read", "model.request"}, d.Metadata.Scopes)
	assert.Equal(t, 720*time.Hour, d.Metadata.RotationPeriod)
	assert.Equal(t, "production", d.Metadata.Tags["env"])
	assert.Equal(t, t0, d.LastRotated)
}

func TestMetadataDeniedFallsBackOnce(t *testing.T) {
	var logs syncBuffer
	fake, _, p := setup(t, vault.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	ctx := context.Background()
	fake.Put("secret", "a", map[string]any{"value": key})
	fake.Put("secret", "b", map[string]any{"value": key})
	fake.Deny("secret/metadata/a")
	fake.Deny("secret/metadata/b")
	for i := 0; i < 3; i++ {
		for _, r := range []string{"secret/a", "secret/b"} {
			id, err := p.CurrentVersion(ctx, r)
			require.NoError(t, err)
			assert.Equal(t, "1", id)
		}
	}
	assert.Equal(t, 1, fake.Calls("GET secret/metadata/a"), "metadata asked once, then data read instead")
	assert.Equal(t, 1, p.AuthStatus().Logins, "the token is valid (lookup-self): a denied path causes no re-login")
	assert.Equal(t, 0, fake.Calls("GET secret/metadata/b"), "the denial is remembered for the mount")
	assert.Equal(t, 3, fake.Calls("GET secret/data/a"))
	assert.Equal(t, 1, strings.Count(logs.String(), "denies reading KV metadata"), "logged once: %s", logs.String())
	fake.Put("secret", "a", map[string]any{"value": key + "2"})
	id, err := p.CurrentVersion(ctx, "secret/a")
	require.NoError(t, err)
	assert.Equal(t, "2", id, "the fallback still sees changes")
}

func TestCurrentVersionReadsMetadataNotData(t *testing.T) {
	fake, _, p := setup(t)
	ctx := context.Background()
	fake.Put("secret", "a", map[string]any{"value": key})
	_, err := p.Fetch(ctx, "secret/a")
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		id, err := p.CurrentVersion(ctx, "secret/a")
		require.NoError(t, err)
		assert.Equal(t, "1", id)
	}
	assert.Equal(t, 1, fake.Calls("GET secret/data/a"))
	assert.Equal(t, 3, fake.Calls("GET secret/metadata/a"))
	assert.Equal(t, 1, fake.CallsWithPrefix("GET sys/internal/ui/mounts/"), "the preflight is cached")
}

func TestErrorMapping(t *testing.T) {
	fake, clk, p := setup(t)
	ctx := context.Background()
	fake.Put("secret", "a", map[string]any{"value": key})
	_, err := p.Fetch(ctx, "secret/a")
	require.NoError(t, err)

	fake.Inject(vaultfake.Fault{Path: "secret/data/a", Status: 500, Errors: []string{"internal error"}, Times: 1})
	_, err = p.Fetch(ctx, "secret/a")
	assert.ErrorIs(t, err, credential.ErrUnavailable)
	var se *vault.ServerError
	require.ErrorAs(t, err, &se, "Vault's errors array is the cause")
	assert.Equal(t, []string{"internal error"}, se.Errors)

	fake.Inject(vaultfake.Fault{Path: "secret/data/a", Status: 503, Errors: []string{"node is in standby mode"}, Times: 1})
	_, err = p.Fetch(ctx, "secret/a")
	assert.ErrorIs(t, err, credential.ErrUnavailable)
	assert.Contains(t, err.Error(), "standby")

	// 429: honoured. No request is sent until Retry-After has passed.
	fake.Inject(vaultfake.Fault{Path: "secret/data/a", Status: 429, Errors: []string{"request path \"secret/data/a\": rate limit quota exceeded"}, RetryAfter: 30 * time.Second, Times: 1})
	_, err = p.Fetch(ctx, "secret/a")
	assert.ErrorIs(t, err, credential.ErrUnavailable)
	n := fake.Calls("GET secret/data/a")
	_, err = p.Fetch(ctx, "secret/a")
	assert.ErrorIs(t, err, credential.ErrUnavailable)
	assert.Equal(t, n, fake.Calls("GET secret/data/a"), "no request before Retry-After")
	clk.Advance(31 * time.Second)
	_, err = p.Fetch(ctx, "secret/a")
	require.NoError(t, err)

	// Network failure.
	fake.Close()
	_, err = p.Fetch(ctx, "secret/a")
	assert.ErrorIs(t, err, credential.ErrUnavailable)
	assert.NotContains(t, err.Error(), "127.0.0.1", "the transport error's URL is not kept")
}

func TestSealedServesLastGood(t *testing.T) {
	fake, clk, p := setup(t)
	ctx := context.Background()
	fake.Put("secret", "prod/openai", map[string]any{"api_key": key})
	c, err := rotate.Watch(ctx, "openai", p, "secret/prod/openai#api_key", rotate.WithClock(clk), rotate.WithMinRefreshInterval(0))
	require.NoError(t, err)
	defer c.Close()
	fake.Seal()
	_, err = c.Refresh(ctx)
	require.ErrorIs(t, err, credential.ErrUnavailable)
	assert.Contains(t, err.Error(), "Vault is sealed")
	s, err := c.Get(ctx)
	require.NoError(t, err, "a sealed Vault: the last good value is served")
	assert.True(t, s.Reveal() == key)
	assert.Equal(t, "unavailable", c.Status().LastError)
	fake.Unseal()
	fake.Put("secret", "prod/openai", map[string]any{"api_key": key + "2"})
	changed, err := c.Refresh(ctx)
	require.NoError(t, err)
	assert.True(t, changed)
}

func TestNoValueInErrors(t *testing.T) {
	fake, _, p := setup(t)
	ctx := context.Background()
	fake.Put("secret", "obj", map[string]any{"value": "{\"nested\":\"" + key + "\""})
	_, err := p.Fetch(ctx, "secret/obj#nested")
	require.Error(t, err)
	assert.Equal(t, -1, providertest.Leak(err.Error(), key))
	_, err = p.Fetch(ctx, "secret/obj?version=1&token="+key)
	require.ErrorIs(t, err, credential.ErrInvalid)
	assert.Contains(t, err.Error(), `"token"`, "the setting is named")
	assert.Equal(t, -1, providertest.Leak(err.Error(), key), "never its value")
}

func TestOpener(t *testing.T) {
	fake, clk, _ := setup(t)
	fake.Put("secret", "prod/openai", map[string]any{"api_key": key})
	fake.DBRole("readonly", vaultfake.DBRole{DefaultTTL: time.Hour, MaxTTL: 3 * time.Hour})
	o := vault.NewOpener(vault.WithClient(fake.Client(fake.RootToken())), vault.WithProviderOptions(vault.WithClock(clk)))
	defer o.Close()
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("vault", o))
	ctx := context.Background()

	p, ref, err := mux.Resolve(ctx, "vault://secret/prod/openai#api_key?version=1&kv=2")
	require.NoError(t, err)
	v, err := p.Fetch(ctx, ref)
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == key)
	assert.IsType(t, &vault.Provider{}, p)

	lp, ref, err := mux.Resolve(ctx, "vault://database/creds/readonly#username")
	require.NoError(t, err)
	assert.IsType(t, &vault.Leases{}, lp, "a dynamic engine resolves to the Leases view")
	v, err = lp.Fetch(ctx, ref)
	require.NoError(t, err)
	assert.False(t, v.Expires.IsZero())

	_, err = lp.Fetch(ctx, "secret/prod/openai#api_key")
	assert.ErrorIs(t, err, credential.ErrInvalid, "the Leases view refuses a KV path")

	for _, bad := range []string{"vault://secret/x?colour=" + key, "vault://secret/x?kv=1&kv=2", "vault://user:" + key + "@secret/x"} {
		_, _, err := mux.Resolve(ctx, bad)
		require.ErrorIs(t, err, credential.ErrInvalid, bad[:14])
		assert.Equal(t, -1, providertest.Leak(err.Error(), key), "the error holds no setting value or user info")
	}
	u, _ := url.Parse("vault://user:" + key + "@secret/x?kv=2")
	_, _, err = o.OpenURL(ctx, u)
	require.ErrorIs(t, err, credential.ErrInvalid, "user info, opened directly")
	assert.Equal(t, -1, providertest.Leak(err.Error(), key))
	_, _, err = mux.Resolve(ctx, "vault://secret/x?colour=blue")
	assert.Contains(t, err.Error(), `"colour"`)
}

// TestOpenerFromEnvironment: without WithClient the opener reads
// VAULT_ADDR, VAULT_TOKEN and VAULT_NAMESPACE as Vault's tools do.
func TestOpenerFromEnvironment(t *testing.T) {
	fake, _, _ := setup(t)
	fake.Put("secret", "prod/openai", map[string]any{"api_key": key})
	t.Setenv("VAULT_ADDR", fake.URL)
	t.Setenv("VAULT_TOKEN", fake.RootToken())
	t.Setenv("VAULT_NAMESPACE", "team-ml")
	t.Setenv("VAULT_MAX_RETRIES", "0")
	for _, k := range []string{"VAULT_ROLE_ID", "VAULT_ROLE_ID_FILE", "VAULT_K8S_ROLE", "VAULT_JWT_ROLE", "VAULT_CACERT", "VAULT_SKIP_VERIFY"} {
		t.Setenv(k, "")
	}
	o := vault.NewOpener()
	defer o.Close()
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("vault", o))
	ctx := context.Background()
	p, ref, err := mux.Resolve(ctx, "vault://secret/prod/openai#api_key")
	require.NoError(t, err)
	v, err := p.Fetch(ctx, ref)
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == key)
	assert.Equal(t, 1, fake.Calls("[team-ml] GET secret/data/prod/openai"), "VAULT_NAMESPACE is sent")
}

func TestEnvAuthChoice(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"VAULT_ROLE_ID": "r", "VAULT_SECRET_ID": "s"}, "approle"},
		{map[string]string{"VAULT_K8S_ROLE": "app"}, "kubernetes"},
		{map[string]string{"VAULT_JWT_ROLE": "ci", "VAULT_JWT_FILE": "/x"}, "jwt"},
		{map[string]string{"VAULT_TOKEN": "hvs.FAKE"}, ""},
	} {
		a := vault.EnvAuth(func(k string) string { return tc.env[k] })
		got := ""
		if a != nil {
			got = a.Method()
		}
		assert.Equal(t, tc.want, got)
	}
}

var _ = errors.New

func sha256sum(s string) []byte {
	b := sha256.Sum256([]byte(s))
	return b[:]
}
