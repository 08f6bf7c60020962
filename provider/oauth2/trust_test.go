package oauth2_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	xoauth2 "golang.org/x/oauth2"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/oauth2"
	"github.com/credkit/credkit/provider/providertest"
)

// TestOpenerRefusesUserInfoUnknownAndRepeatedSettings: oauth2:// follows
// the one rule of every opener (provider.Settings): user info, an unknown
// setting and a repeated setting (a param.NAME one too) are ErrInvalid,
// naming the setting and never printing a value.
func TestOpenerRefusesUserInfoUnknownAndRepeatedSettings(t *testing.T) {
	o := oauth2.NewOpener(provider.NewURLMux())
	for name, open := range providertest.Openers("oauth2", o) {
		t.Run(name, func(t *testing.T) {
			base := "oauth2://login.example.com/oauth2/token"
			for _, s := range []string{"client_id", "scope", "audience", "subject_type"} {
				cases := providertest.RefusedURLs(base, s)
				require.Greater(t, len(cases), 100)
				providertest.CheckRefused(t, open, cases)
			}
			// A secret written where a credkit URL belongs.
			v := "ckt_QzXvKwJqYzPxWvQk"
			providertest.CheckRefused(t, open, []providertest.RefusedURL{
				{Why: "secret in the URL", URL: base + "?client_id=svc&client_secret=" + v, Value: v, Setting: "client_secret"},
				{Why: "refused value", URL: base + "?client_id=svc&format=" + v, Value: v, Setting: "format"},
				{Why: "refused value", URL: base + "?client_id=svc&grant=" + v, Value: v, Setting: "grant"},
				{Why: "field", URL: base + "#" + v + "?client_id=svc", Value: v},
				{Why: "repeated setting", URL: base + "?client_id=svc&param.org=" + v + "&param.org=" + v, Value: v, Setting: "param.org"},
				{Why: "reserved parameter", URL: base + "?client_id=svc&param.client_secret=" + v, Value: v, Setting: "param.client_secret"},
			})
		})
	}
}

// TestValuesWithLineBreaksRefused: an access token holding NUL, CR or LF
// (beyond one trailing newline), from a token endpoint or a token source,
// and a subject token file holding one, are ErrInvalid; the errors hold no
// part of them.
func TestValuesWithLineBreaksRefused(t *testing.T) {
	ctx := context.Background()
	bad := []string{
		"eyJFAKE.QzXv\x00KwJq.YzPx", "eyJFAKE.QzXv\rKwJq.YzPx", "eyJFAKE.QzXv\nKwJq.YzPx", "eyJFAKE.QzXv\r\nKwJq.YzPx",
		"eyJFAKE.QzXvKwJq.YzPx\n\n", "eyJFAKE.QzXvKwJq.YzPx\r", "\neyJFAKE.QzXvKwJq.YzPx", "eyJFAKE.QzXvKwJq.YzPx\x00",
		"eyJFAKE.QzXv\nX-Injected: 1",
	}
	var answer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": answer, "token_type": "Bearer", "expires_in": 3600})
	}))
	defer srv.Close()
	p, err := oauth2.ClientCredentials(oauth2.Config{TokenURL: srv.URL + "/token", ClientID: "svc"})
	require.NoError(t, err)
	dir := t.TempDir()
	for i, v := range bad {
		answer = v
		_, err := p.Fetch(ctx, "")
		require.Error(t, err, "endpoint case %d", i)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "endpoint case %d", i)
		assert.Equal(t, -1, providertest.Leak(err.Error(), v), "endpoint case %d", i)

		ts := oauth2.FromTokenSource(xoauth2.StaticTokenSource(&xoauth2.Token{AccessToken: v, Expiry: time.Now().Add(time.Hour)}), "")
		_, err = ts.Fetch(ctx, "")
		require.Error(t, err, "source case %d", i)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "source case %d", i)
		assert.Equal(t, -1, providertest.Leak(err.Error(), v), "source case %d", i)

	}
	// A subject token file holding a line break or NUL inside.
	for i, v := range []string{"eyJFAKE.Qz\x00Xv.KwJq", "eyJFAKE.Qz\rXv.KwJq", "eyJFAKE.Qz\nXv.KwJq", "eyJFAKE.Qz\r\nXv.KwJq\n"} {
		path := filepath.Join(dir, "token")
		require.NoError(t, os.WriteFile(path, []byte(v), 0o600))
		_, err = oauth2.NewFile(path).Value(ctx)
		require.Error(t, err, "file case %d", i)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "file case %d", i)
		assert.Equal(t, -1, providertest.Leak(err.Error(), v), "file case %d", i)
	}
	// One trailing newline is trimmed.
	answer = "eyJFAKE.QzXvKwJq.YzPx\n"
	got, err := p.Fetch(ctx, "")
	require.NoError(t, err)
	assert.True(t, got.Secret.Reveal() == "eyJFAKE.QzXvKwJq.YzPx")
}
