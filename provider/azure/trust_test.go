package azure_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/provider/azure"
	"github.com/credkit/credkit/provider/providertest"
)

// TestOpenersRefuseUserInfoUnknownAndRepeatedSettings: azure-kv:// (no
// settings) and azure-token:// follow the one rule of every opener
// (provider.Settings): user info, an unknown setting and a repeated
// setting are ErrInvalid, naming the setting and never printing a value.
func TestOpenersRefuseUserInfoUnknownAndRepeatedSettings(t *testing.T) {
	cred := &fakeTokens{clk: fakeclock.New(start), life: time.Hour}
	for name, open := range providertest.Openers("azure-kv", azure.NewOpener(azure.WithCredential(cred))) {
		t.Run("azure-kv/"+name, func(t *testing.T) {
			cases := providertest.RefusedURLs("azure-kv://my-vault/openai", "")
			require.Greater(t, len(cases), 100)
			providertest.CheckRefused(t, open, cases)
		})
	}
	for name, open := range providertest.Openers("azure-token", azure.NewTokenOpener(azure.WithTokenCredential(cred))) {
		t.Run("azure-token/"+name, func(t *testing.T) {
			providertest.CheckRefused(t, open, providertest.RefusedURLs("azure-token://", "tenant"))
			providertest.CheckRefused(t, open, providertest.RefusedURLs("azure-token://", "scope"))
		})
	}
}

var badValues = []string{
	"sk-FAKEQzXv\x00KwJqYzPx", "sk-FAKEQzXv\rKwJqYzPx", "sk-FAKEQzXv\nKwJqYzPx", "sk-FAKEQzXv\r\nKwJqYzPx",
	"sk-FAKEQzXvKwJqYzPx\n\n", "sk-FAKEQzXvKwJqYzPx\r", "\nsk-FAKEQzXvKwJqYzPx", "sk-FAKEQzXvKwJqYzPx\x00",
	"sk-FAKEQzXv\nX-Injected: 1", "\n", "\r\n",
}

// TestValuesWithLineBreaksRefused: a secret, a #field of one, or a token
// holding NUL, CR or LF (beyond one trailing newline) is ErrInvalid, and
// its error holds no part of it.
func TestValuesWithLineBreaksRefused(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()
	p := azure.New(c)
	for i, v := range badValues {
		n := fmt.Sprintf("bad-%d", i)
		put(t, c, n, v, nil, nil)
		_, err := p.Fetch(ctx, n)
		require.Error(t, err, "case %d", i)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "case %d", i)
		assert.Equal(t, -1, providertest.Leak(err.Error(), v), "case %d", i)

		j := fmt.Sprintf("json-%d", i)
		doc, _ := json.Marshal(map[string]string{"api_key": v})
		put(t, c, j, string(doc), nil, nil)
		_, err = p.Fetch(ctx, j+"#api_key")
		require.Error(t, err, "field case %d", i)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "field case %d", i)

		clk := fakeclock.New(start)
		tp := azure.NewTokenProvider(&fakeTokens{clk: clk, life: time.Hour, token: v}, azure.WithTokenClock(clk))
		_, err = tp.Fetch(ctx, azure.CognitiveServicesScope)
		require.Error(t, err, "token case %d", i)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "token case %d", i)
		assert.Equal(t, -1, providertest.Leak(err.Error(), v), "token case %d", i)
	}
	// One trailing newline is trimmed, in a field and a token too.
	doc, _ := json.Marshal(map[string]string{"api_key": key + "\n"})
	put(t, c, "json-nl", string(doc), nil, nil)
	got, err := p.Fetch(ctx, "json-nl#api_key")
	require.NoError(t, err)
	assert.True(t, got.Secret.Reveal() == key)
	clk := fakeclock.New(start)
	tv, err := azure.NewTokenProvider(&fakeTokens{clk: clk, life: time.Hour, token: "eyJFAKE.QzXv.KwJq\n"}, azure.WithTokenClock(clk)).Fetch(ctx, azure.CognitiveServicesScope)
	require.NoError(t, err)
	assert.True(t, tv.Secret.Reveal() == "eyJFAKE.QzXv.KwJq")
}
