package provider_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider"
)

func TestParseAcceptsFieldBeforeOrAfterQuery(t *testing.T) {
	for _, raw := range []string{
		"aws-sm://prod/openai#api_key?region=eu-west-1&stage=AWSPREVIOUS",
		"aws-sm://prod/openai?region=eu-west-1&stage=AWSPREVIOUS#api_key",
	} {
		u, err := provider.Parse(raw)
		require.NoError(t, err, raw)
		assert.Equal(t, "aws-sm", u.Scheme)
		assert.Equal(t, "prod", u.Host)
		assert.Equal(t, "/openai", u.Path)
		assert.Equal(t, "api_key", u.Fragment)
		assert.Equal(t, "eu-west-1", u.Query().Get("region"))
		assert.Equal(t, "AWSPREVIOUS", u.Query().Get("stage"))
	}
	for _, raw := range []string{"", "OPENAI_API_KEY", "://x", "1abc://x", "https://user:FAKEpass@host/x", "env://%zz"} {
		_, err := provider.Parse(raw)
		assert.True(t, errors.Is(err, credential.ErrInvalid), raw)
		if err != nil {
			assert.NotContains(t, err.Error(), "FAKEpass")
		}
	}
}

func TestResolveEnvAndFile(t *testing.T) {
	t.Setenv("CREDKIT_MUX_TEST_KEY", "sk-proj-FAKE0000000000000000000000000000")
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"openai":"sk-proj-FAKE1111111111111111111111111111"}`), 0o600))

	m := provider.NewURLMux()
	ctx := context.Background()
	p1, ref, err := m.Resolve(ctx, "env://CREDKIT_MUX_TEST_KEY")
	require.NoError(t, err)
	assert.Equal(t, "CREDKIT_MUX_TEST_KEY", ref)
	v, err := p1.Fetch(ctx, ref)
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == "sk-proj-FAKE0000000000000000000000000000", "value mismatch")
	p1b, _, _ := m.Resolve(ctx, "env://OTHER")
	assert.Same(t, p1, p1b, "one shared provider per backend configuration")

	p2, ref, err := m.Resolve(ctx, "file://"+path+"#openai")
	require.NoError(t, err)
	assert.Equal(t, path+"#openai", ref)
	v, err = p2.Fetch(ctx, ref)
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == "sk-proj-FAKE1111111111111111111111111111", "value mismatch")

	for _, raw := range []string{"file://relative/path", "file://", "env://a/b", "env://", "gcp-sm://projects/p/secrets/x"} {
		_, _, err := m.Resolve(ctx, raw)
		assert.True(t, errors.Is(err, credential.ErrInvalid), raw)
	}
}

func TestRegister(t *testing.T) {
	m := provider.NewURLMux()
	var got *url.URL
	fake := credential.Provider(nil)
	require.NoError(t, m.Register("vault", provider.OpenerFunc(func(_ context.Context, u *url.URL) (credential.Provider, string, error) {
		got = u
		return fake, u.Host + u.Path + "#" + u.Fragment, nil
	})))
	assert.Equal(t, []string{"env", "file", "vault"}, m.Schemes())
	_, ref, err := m.Resolve(context.Background(), "vault://secret/data/openai#api_key?mount=kv")
	require.NoError(t, err)
	assert.Equal(t, "secret/data/openai#api_key", ref)
	assert.Equal(t, "kv", got.Query().Get("mount"))

	assert.True(t, errors.Is(m.Register("vault", provider.OpenerFunc(nil)), credential.ErrInvalid), "duplicate")
	assert.True(t, errors.Is(m.Register("bad scheme", provider.OpenerFunc(nil)), credential.ErrInvalid))
	assert.True(t, errors.Is(m.Register("x", nil), credential.ErrInvalid))
}
