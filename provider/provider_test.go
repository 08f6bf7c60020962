package provider_test

import (
	"context"
	"errors"
	"fmt"
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

func TestOpenerSettings(t *testing.T) {
	t.Setenv("MUXAPP_OPENAI_API_KEY", "sk-proj-FAKE2222222222222222222222222222")
	dir := t.TempDir()
	txt := filepath.Join(dir, "secrets.txt")
	require.NoError(t, os.WriteFile(txt, []byte("OPENAI_API_KEY=sk-proj-FAKE3333333333333333333333333333\n"), 0o600))
	open := filepath.Join(dir, "readable")
	require.NoError(t, os.WriteFile(open, []byte("sk-proj-FAKE4444444444444444444444444444"), 0o600))
	require.NoError(t, os.Chmod(open, 0o644))

	m := provider.NewURLMux()
	ctx := context.Background()
	fetch := func(raw string) (credential.Version, error) {
		p, ref, err := m.Resolve(ctx, raw)
		if err != nil {
			return credential.Version{}, err
		}
		return p.Fetch(ctx, ref)
	}

	v, err := fetch("env://OPENAI_API_KEY?prefix=MUXAPP_")
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == "sk-proj-FAKE2222222222222222222222222222", "value mismatch")
	pa, _, _ := m.Resolve(ctx, "env://A?prefix=MUXAPP_")
	pb, _, _ := m.Resolve(ctx, "env://B?prefix=MUXAPP_")
	pc, _, _ := m.Resolve(ctx, "env://C")
	assert.Same(t, pa, pb, "same settings, same provider")
	assert.NotSame(t, pa, pc, "other settings, other provider")

	v, err = fetch("file://" + txt + "#OPENAI_API_KEY?format=dotenv")
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == "sk-proj-FAKE3333333333333333333333333333", "value mismatch")

	_, err = fetch("file://" + open)
	assert.True(t, errors.Is(err, credential.ErrInvalid), "a readable file is refused by default")
	_, err = fetch("file://" + open + "?allow_insecure_mode=true")
	assert.NoError(t, err)

	_, err = fetch("file://" + open + "?allow_insecure_mode=true&root=" + t.TempDir())
	assert.True(t, errors.Is(err, credential.ErrPermission), "root confines the path")

	for _, raw := range []string{
		"env://A?prefx=MUXAPP_",
		"env://A?prefix=X&prefix=Y",
		"file:///x?format=yaml",
		"file:///x?allow_insecure_mode=maybe",
		"file:///x?root=relative",
		"file://localhost",
	} {
		_, _, err := m.Resolve(ctx, raw)
		assert.True(t, errors.Is(err, credential.ErrInvalid), raw)
	}
	_, _, err = m.Resolve(ctx, "env://A?token=FAKEtoken0000")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "FAKEtoken", "query values are dropped from errors")
}

// Settings is the one rule of every opener: unknown or repeated settings
// are ErrInvalid, named (when they look like names) and never valued.
func TestSettingsRule(t *testing.T) {
	const v = "FAKEvalQzXvKwJqYzPxWv"
	u := func(q string) *url.URL { return &url.URL{Scheme: "x", Host: "h", RawQuery: q} }
	got, err := provider.Settings(u("region=eu-west-1&stage=AWSCURRENT"), "region", "stage")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"region": "eu-west-1", "stage": "AWSCURRENT"}, got)
	for q, says := range map[string]string{
		"regoin=" + v:                  `unknown setting "regoin" (known: region, stage)`,
		"stage=A&stage=" + v:           `setting "stage" is given 2 times`,
		"region=" + v + "&region=" + v: `setting "region" is given 2 times`,
		v + "%2F%2B%3D=1":              "an unknown setting (known",
		"a=%zz" + v:                    "malformed",
	} {
		_, err := provider.Settings(u(q), "region", "stage")
		require.Error(t, err, q)
		assert.True(t, errors.Is(err, credential.ErrInvalid), q)
		assert.Contains(t, err.Error(), says, q)
		assert.NotContains(t, err.Error(), v[4:12], "%s: no value in the error", q)
	}
	// User info, for an opener called without provider.Parse.
	for _, ui := range []*url.Userinfo{url.UserPassword("svc", v), url.User(v), url.UserPassword(v, "")} {
		uu := u("region=eu-west-1")
		uu.User = ui
		_, err := provider.Settings(uu, "region")
		require.Error(t, err)
		assert.True(t, errors.Is(err, credential.ErrInvalid))
		assert.Contains(t, err.Error(), "user info")
		assert.NotContains(t, err.Error(), v[4:12], "no user info in the error")
		assert.NotContains(t, fmt.Sprintf("%+v", err), v[4:12], "nor in its fields")
	}
}
