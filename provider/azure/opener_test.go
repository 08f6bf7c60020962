package azure_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/azure"
)

func TestOpenerThroughURLMux(t *testing.T) {
	fake, c := setup(t)
	v1 := put(t, c, "openai", `{"api_key":"`+key+`"}`, nil, nil)
	put(t, c, "openai", `{"api_key":"`+key+`-2"}`, nil, nil)
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("azure-kv", opener(fake, fakeclock.New(start))))
	ctx := context.Background()
	h := host(t, fake)

	p1, ref, err := mux.Resolve(ctx, "azure-kv://"+h+"/openai#api_key")
	require.NoError(t, err)
	assert.Equal(t, "openai#api_key", ref)
	v, err := p1.Fetch(ctx, ref)
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == key+"-2", "latest")

	p2, ref, err := mux.Resolve(ctx, "azure-kv://"+h+"/openai/"+v1+"#api_key")
	require.NoError(t, err)
	assert.Same(t, p1, p2, "one provider per vault")
	assert.Equal(t, "openai/"+v1+"#api_key", ref)
	v, err = p2.Fetch(ctx, ref)
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == key, "pinned")
}

func TestOpenerVaultHostsAndDefaultCredential(t *testing.T) {
	// No credential given: DefaultAzureCredential is created (no network
	// until a token is needed), once, and one provider per vault.
	t.Setenv("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000000")
	t.Setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
	t.Setenv("AZURE_CLIENT_SECRET", "FAKE-client-secret-000000000000")
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("azure-kv", azure.NewOpener()))
	ctx := context.Background()
	a, ref, err := mux.Resolve(ctx, "azure-kv://my-vault/openai")
	require.NoError(t, err)
	assert.Equal(t, "openai", ref)
	b, _, err := mux.Resolve(ctx, "azure-kv://my-vault.vault.azure.net/anthropic")
	require.NoError(t, err)
	assert.Same(t, a, b, "a vault name is its host under vault.azure.net")
	cn, _, err := mux.Resolve(ctx, "azure-kv://my-vault.vault.azure.cn/openai")
	require.NoError(t, err)
	assert.NotSame(t, a, cn, "a sovereign cloud's vault is another vault")
	other, _, err := mux.Resolve(ctx, "azure-kv://other-vault/openai")
	require.NoError(t, err)
	assert.NotSame(t, a, other)
}

// TestOpenerRefusesBadURLs: every refusal is ErrInvalid, names the problem
// (and the setting), and never prints a setting's value.
func TestOpenerRefusesBadURLs(t *testing.T) {
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("azure-kv", azure.NewOpener()))
	ctx := context.Background()
	for raw, want := range map[string]string{
		"azure-kv://my-vault/openai?token=FAKEsecretValue000":       `unknown setting "token"`,
		"azure-kv://my-vault/openai?region=a&region=FAKEsecretV000": `unknown setting "region"`,
		"azure-kv://my-vault/openai#api_key?api-version=FAKE000000": `unknown setting "api-version"`,
		"azure-kv:///openai":                               "not a vault name",
		"azure-kv://ab/openai":                             "not a vault name",
		"azure-kv://my_vault/openai":                       "not a vault name",
		"azure-kv://my-vault:443/openai":                   "not a vault name",
		"azure-kv://my-vault/":                             "no secret name",
		"azure-kv://my-vault/open_ai":                      "letters, digits and dashes",
		"azure-kv://my-vault/openai/v1":                    "32 hex digits",
		"azure-kv://my-vault/openai/a/b":                   "more parts",
		"azure-kv://user:FAKEpass000@my-vault/":            "user info",
		"azure-kv://my-vault/openai/FAKEpastedKey0000":     "32 hex digits",
		"azure-kv://my-vault/openai/FAKEpastedKey0000?x=1": "unknown setting",
		"azure-kv://my-vault/FAKE_pasted_key_0000":         "letters, digits and dashes",
	} {
		_, _, err := mux.Resolve(ctx, raw)
		require.Error(t, err, raw)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "%s: %v", raw, err)
		assert.Contains(t, err.Error(), want, raw)
		assert.NotContains(t, err.Error(), "FAKE", "%s: a value is printed", raw)
	}
}
