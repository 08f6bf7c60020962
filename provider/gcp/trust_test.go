package gcp_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider/gcp"
	"github.com/credkit/credkit/provider/providertest"
)

// TestOpenersRefuseUserInfoUnknownAndRepeatedSettings: gcp-sm:// and
// gcp-token:// follow the one rule of every opener (provider.Settings):
// user info, an unknown setting and a repeated setting are ErrInvalid,
// naming the setting and never printing a value.
func TestOpenersRefuseUserInfoUnknownAndRepeatedSettings(t *testing.T) {
	sm := gcp.NewOpener(gcp.WithClientOptions(option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))))
	t.Cleanup(func() { sm.Close() })
	for name, open := range providertest.Openers("gcp-sm", sm) {
		t.Run("gcp-sm/"+name, func(t *testing.T) {
			cases := providertest.RefusedURLs("gcp-sm://projects/p/secrets/openai", "endpoint")
			require.Greater(t, len(cases), 100)
			providertest.CheckRefused(t, open, cases)
		})
	}
	for name, open := range providertest.Openers("gcp-token", gcp.NewTokenOpener()) {
		t.Run("gcp-token/"+name, func(t *testing.T) {
			providertest.CheckRefused(t, open, providertest.RefusedURLs("gcp-token://", "scope"))
		})
	}
}

// TestValuesWithLineBreaksRefused: a secret or token holding NUL, CR or LF
// (beyond one trailing newline) is ErrInvalid, and its error holds no part
// of it.
func TestValuesWithLineBreaksRefused(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	p := gcp.New(e.c)
	bad := []string{
		"ckt_QzXv\x00KwJqYzPx", "ckt_QzXv\rKwJqYzPx", "ckt_QzXv\nKwJqYzPx", "ckt_QzXv\r\nKwJqYzPx",
		"ckt_QzXvKwJqYzPx\n\n", "ckt_QzXvKwJqYzPx\r", "\nckt_QzXvKwJqYzPx", "ckt_QzXvKwJqYzPx\x00",
		"\n", "\r\n",
	}
	for i, v := range bad {
		n := secretName("bad-" + string(rune('a'+i)))
		e.create(t, n, v)
		_, err := p.Fetch(ctx, n)
		require.Error(t, err, "case %d", i)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "case %d", i)
		assert.Equal(t, -1, providertest.Leak(err.Error(), v), "case %d", i)

		// The same value as a #field of a JSON secret.
		j := secretName("json-" + string(rune('a'+i)))
		e.create(t, j, `{"api_key":`+jsonString(v)+`}`)
		_, err = p.Fetch(ctx, j+"#api_key")
		require.Error(t, err, "field case %d", i)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "field case %d", i)

		// An access token from the token endpoint.
		tp := gcp.NewTokenProvider(gcp.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: v, ExpiresIn: 3600})))
		_, err = tp.Fetch(ctx, "")
		require.Error(t, err, "token case %d", i)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "token case %d", i)
		assert.Equal(t, -1, providertest.Leak(err.Error(), v), "token case %d", i)
	}
	// One trailing newline is trimmed, in a field too.
	e.create(t, secretName("json-nl"), `{"api_key":"`+key+`\n"}`)
	v, err := p.Fetch(ctx, secretName("json-nl")+"#api_key")
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == key)
	tv, err := gcp.NewTokenProvider(gcp.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "ya29.FAKEQzXv\n", ExpiresIn: 3600}))).Fetch(ctx, "")
	require.NoError(t, err)
	assert.True(t, tv.Secret.Reveal() == "ya29.FAKEQzXv")
}

func jsonString(s string) string {
	b := []byte{'"'}
	for _, c := range []byte(s) {
		switch c {
		case 0:
			b = append(b, `\u0000`...)
		case '\r':
			b = append(b, `\r`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}

// A ref that is no secret name (a value pasted where a name belongs) is
// ErrInvalid and not printed, at Fetch and through the opener.
func TestMalformedRefNotPrinted(t *testing.T) {
	e := setup(t)
	sm := gcp.NewOpener(gcp.WithClient(e.c))
	opens := providertest.Openers("gcp-sm", sm)
	p := gcp.New(e.c)
	opens["fetch"] = func(ctx context.Context, raw string) error {
		_, err := p.Fetch(ctx, raw[len("gcp-sm://"):])
		return err
	}
	v := "ckt_QzXvKwJqYzPxWvQk.ZjXy"
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			providertest.CheckRefused(t, open, []providertest.RefusedURL{
				{Why: "no name", URL: "gcp-sm://" + v, Value: v},
				{Why: "bad project", URL: "gcp-sm://projects/" + v + "/secrets/s", Value: v},
				{Why: "bad secret", URL: "gcp-sm://projects/p/secrets/" + v, Value: v},
				{Why: "bad version", URL: "gcp-sm://projects/p/secrets/s/versions/" + v, Value: v},
				{Why: "empty field", URL: "gcp-sm://" + v + "#", Value: v},
			})
		})
	}
}
