package gcp_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/gcp"
)

func TestOpenerURLForms(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.create(t, secretName("openai"), `{"api_key":"`+key+`"}`)
	e.add(t, secretName("openai"), `{"api_key":"`+key+`-2"}`)
	e.setAliases(t, secretName("openai"), map[string]int64{"stable": 1})
	regional := "projects/" + project + "/locations/europe-west4/secrets/anthropic"
	e.create(t, regional, key+"-eu")
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("gcp-sm", gcp.NewOpener(gcp.WithClient(e.c))))

	for _, tc := range []struct{ url, ref, id, value string }{
		{"gcp-sm://projects/credkit-test/secrets/openai#api_key", secretName("openai") + "#api_key", "2", key + "-2"},
		{"gcp-sm://projects/credkit-test/secrets/openai/versions/1#api_key", secretName("openai") + "/versions/1#api_key", "1", key},
		{"gcp-sm://projects/credkit-test/secrets/openai/versions/stable#api_key", secretName("openai") + "/versions/stable#api_key", "1", key},
		{"gcp-sm://projects/credkit-test/secrets/openai/versions/latest#api_key", secretName("openai") + "/versions/latest#api_key", "2", key + "-2"},
		{"gcp-sm:///projects/credkit-test/secrets/openai#api_key", secretName("openai") + "#api_key", "2", key + "-2"},
		{"gcp-sm://" + regional, regional, "1", key + "-eu"},
	} {
		p, ref, err := mux.Resolve(ctx, tc.url)
		require.NoError(t, err, tc.url)
		assert.Equal(t, tc.ref, ref)
		v, err := p.Fetch(ctx, ref)
		require.NoError(t, err, tc.url)
		assert.Equal(t, tc.id, v.ID, tc.url)
		assert.True(t, v.Secret.Reveal() == tc.value, "%s: value mismatch", tc.url)
	}
	p1, _, _ := mux.Resolve(ctx, "gcp-sm://projects/credkit-test/secrets/openai")
	p2, _, _ := mux.Resolve(ctx, "gcp-sm://"+regional)
	assert.Same(t, p1, p2, "WithClient: one provider for every URL")

	for _, bad := range []string{
		"gcp-sm://",
		"gcp-sm://openai",
		"gcp-sm://projects/p/secrets/open%20ai",
		"gcp-sm://projects/p/secrets/openai/versions/0",
		"gcp-sm://projects/p/locations/EU/secrets/openai",
	} {
		_, _, err := mux.Resolve(ctx, bad)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "%s: got %v", bad, err)
	}
}

// TestOpenerSettings: an unknown or repeated setting is ErrInvalid naming
// the setting, never its value; printed URLs hold no setting value.
func TestOpenerSettings(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.create(t, secretName("openai"), key)
	mux := provider.NewURLMux()
	o := gcp.NewOpener(gcp.WithClientOptions(option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))))
	t.Cleanup(func() { o.Close() })
	require.NoError(t, mux.Register("gcp-sm", o))

	// The endpoint setting: a client of its own, over the wire to the fake.
	pa, ref, err := mux.Resolve(ctx, "gcp-sm://projects/credkit-test/secrets/openai?endpoint="+e.fake.Addr)
	require.NoError(t, err)
	v, err := pa.Fetch(ctx, ref)
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == key)
	pb, _, err := mux.Resolve(ctx, "gcp-sm://projects/credkit-test/secrets/other?endpoint="+e.fake.Addr)
	require.NoError(t, err)
	assert.Same(t, pa, pb, "one client and provider per configuration")
	pr, _, err := mux.Resolve(ctx, "gcp-sm://projects/credkit-test/locations/us-east1/secrets/other")
	require.NoError(t, err)
	assert.NotSame(t, pa, pr, "a regional secret has its own endpoint, client and provider")
	assert.Equal(t, "secretmanager.us-east1.rep.googleapis.com:443", gcp.RegionalEndpoint("us-east1"))

	const hidden = "tok_QzXvKwJqYzPxWvQk"
	for url, setting := range map[string]string{
		"gcp-sm://projects/p/secrets/openai?token=" + hidden:                                  `"token"`,
		"gcp-sm://projects/p/secrets/openai?endpoint=" + hidden + "&endpoint=" + hidden:       `"endpoint" is given 2 times`,
		"gcp-sm://projects/p/secrets/openai#api_key?endpoint=" + hidden + "&region=" + hidden: `"region"`,
	} {
		_, _, err := mux.Resolve(ctx, url)
		require.Error(t, err)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "got %v", err)
		assert.Contains(t, err.Error(), setting)
		assert.NotContains(t, err.Error(), hidden, "a setting's value is never printed")
	}
	_, _, err = mux.Resolve(ctx, "gcp-sm://projects/p/secrets/open%20ai?endpoint="+hidden)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), hidden)

	// Concurrent opens of a new configuration agree on one provider; the
	// clients made by the losers are closed (goleak would see them).
	got := make(chan credential.Provider, 8)
	for i := 0; i < 8; i++ {
		go func() {
			p, _, err := mux.Resolve(ctx, "gcp-sm://projects/credkit-test/locations/asia-east1/secrets/openai")
			assert.NoError(t, err)
			got <- p
		}()
	}
	first := <-got
	for i := 1; i < 8; i++ {
		assert.Same(t, first, <-got)
	}
	require.NoError(t, o.Close())
}

// TestOpenerUsesApplicationDefaultCredentials: without options the
// opener's clients authenticate with ADC.
func TestOpenerUsesApplicationDefaultCredentials(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(dir, "missing.json"))
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("gcp-sm", gcp.NewOpener()))
	_, _, err := mux.Resolve(ctx, "gcp-sm://projects/p/secrets/openai")
	assert.True(t, errors.Is(err, credential.ErrUnavailable), "ADC is missing: got %v", err)
	assert.Contains(t, err.Error(), "Application Default Credentials")

	adc := filepath.Join(dir, "adc.json")
	require.NoError(t, os.WriteFile(adc, []byte(`{"type":"authorized_user","client_id":"fake.apps.googleusercontent.com","client_secret":"FAKE-client-secret","refresh_token":"FAKE-refresh-token"}`), 0o600))
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", adc)
	o := gcp.NewOpener()
	mux2 := provider.NewURLMux()
	require.NoError(t, mux2.Register("gcp-sm", o))
	p, _, err := mux2.Resolve(ctx, "gcp-sm://projects/p/secrets/openai")
	require.NoError(t, err, "a client is made from ADC")
	assert.NotNil(t, p)
	require.NoError(t, o.Close())
}
