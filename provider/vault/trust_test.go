package vault_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider/providertest"
	"github.com/credkit/credkit/provider/vault"
)

// TestOpenerRefusesUserInfoUnknownAndRepeatedSettings: vault:// follows the
// one rule of every opener (provider.Settings): user info, an unknown
// setting and a repeated setting are ErrInvalid, naming the setting and
// never printing a value; so does a ref given to Fetch.
func TestOpenerRefusesUserInfoUnknownAndRepeatedSettings(t *testing.T) {
	fake, _, p := setup(t)
	o := vault.NewOpener(vault.WithClient(fake.Client(fake.RootToken())))
	t.Cleanup(func() { o.Close() })
	for name, open := range providertest.Openers("vault", o) {
		t.Run(name, func(t *testing.T) {
			for _, s := range []string{"version", "kv", "namespace"} {
				cases := providertest.RefusedURLs("vault://secret/prod/openai", s)
				require.Greater(t, len(cases), 100)
				providertest.CheckRefused(t, open, cases)
			}
		})
	}
	t.Run("fetch", func(t *testing.T) {
		fetch := func(ctx context.Context, raw string) error {
			_, err := p.Fetch(ctx, raw[len("vault://"):])
			return err
		}
		var cases []providertest.RefusedURL
		for _, c := range providertest.RefusedURLs("vault://secret/prod/openai", "namespace") {
			if c.Why != "user info" {
				cases = append(cases, c)
			}
		}
		providertest.CheckRefused(t, fetch, cases)
	})
}

// A value refused for a known setting is not printed either, though
// credential.SafeRef prints a harmless setting's value that it accepts.
func TestRefusedSettingValueNotPrinted(t *testing.T) {
	fake, _, p := setup(t)
	o := vault.NewOpener(vault.WithClient(fake.Client(fake.RootToken())))
	t.Cleanup(func() { o.Close() })
	opens := providertest.Openers("vault", o)
	opens["fetch"] = func(ctx context.Context, raw string) error {
		_, err := p.Fetch(ctx, raw[len("vault://"):])
		return err
	}
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			var cases []providertest.RefusedURL
			for _, v := range []string{"ckt_QzXvKwJqYzPxWvQk", "ckt-QzXv.KwJq/YzPx", "3ckt_QzXvKwJq"} {
				cases = append(cases,
					providertest.RefusedURL{Why: "bad version", URL: "vault://secret/x?version=" + v, Value: v},
					providertest.RefusedURL{Why: "bad kv", URL: "vault://secret/x?kv=" + v, Value: v},
					providertest.RefusedURL{Why: "bad version", URL: "vault://secret/x#f?namespace=a&version=" + v, Value: v})
			}
			providertest.CheckRefused(t, open, cases)
		})
	}
}

// TestValuesWithLineBreaksRefused: a value holding NUL, CR or LF (beyond
// one trailing newline) is ErrInvalid, in KV v1 and v2, as the only field,
// a named field, or a field of a JSON document; its error holds no part of
// it.
func TestValuesWithLineBreaksRefused(t *testing.T) {
	fake, _, p := setup(t)
	ctx := context.Background()
	bad := []string{
		"hvs.FAKEQzXv\x00KwJqYzPx", "hvs.FAKEQzXv\rKwJqYzPx", "hvs.FAKEQzXv\nKwJqYzPx", "hvs.FAKEQzXv\r\nKwJqYzPx",
		"hvs.FAKEQzXvKwJqYzPx\n\n", "hvs.FAKEQzXvKwJqYzPx\r", "\nhvs.FAKEQzXvKwJqYzPx", "hvs.FAKEQzXvKwJqYzPx\x00",
		"\n", "\r\n",
	}
	for i, v := range bad {
		doc, _ := json.Marshal(map[string]string{"api_key": v})
		for _, mount := range []string{"secret", "kv"} {
			fake.Put(mount, fmt.Sprintf("only-%d", i), map[string]any{"value": v})
			fake.Put(mount, fmt.Sprintf("named-%d", i), map[string]any{"api_key": v, "org": "org-FAKE"})
			fake.Put(mount, fmt.Sprintf("doc-%d", i), map[string]any{"json": string(doc)})
			for _, ref := range []string{
				fmt.Sprintf("%s/only-%d", mount, i),
				fmt.Sprintf("%s/named-%d#api_key", mount, i),
				fmt.Sprintf("%s/doc-%d#api_key", mount, i),
			} {
				_, err := p.Fetch(ctx, ref)
				require.Error(t, err, "case %d %s", i, ref)
				assert.True(t, errors.Is(err, credential.ErrInvalid), "case %d %s", i, ref)
				assert.Equal(t, -1, providertest.Leak(err.Error(), v), "case %d %s", i, ref)
			}
		}
	}
	// One trailing newline is trimmed.
	fake.Put("secret", "nl", map[string]any{"value": key + "\n"})
	got, err := p.Fetch(ctx, "secret/nl")
	require.NoError(t, err)
	assert.True(t, got.Secret.Reveal() == key)
}

// A ref that is no MOUNT/PATH (a value pasted where a path belongs) is
// ErrInvalid and not printed, at Fetch and through the opener.
func TestMalformedRefNotPrinted(t *testing.T) {
	fake, _, p := setup(t)
	o := vault.NewOpener(vault.WithClient(fake.Client(fake.RootToken())))
	t.Cleanup(func() { o.Close() })
	opens := providertest.Openers("vault", o)
	opens["fetch"] = func(ctx context.Context, raw string) error {
		_, err := p.Fetch(ctx, raw[len("vault://"):])
		return err
	}
	v := "hvs.CAESIQzXvKwJqYzPxWvQk"
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			providertest.CheckRefused(t, open, []providertest.RefusedURL{
				{Why: "no mount", URL: "vault://" + v, Value: v},
				{Why: "dot segment", URL: "vault://secret/../" + v, Value: v},
				{Why: "no mount", URL: "vault://" + v + "#f", Value: v},
			})
		})
	}
}
