package provider_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/providertest"
)

// env:// and file:// follow the one rule of every opener, on the table
// every backend's test shares; a refused value of a known setting, or a
// malformed name, is not printed either.
func TestBuiltinOpenersRefuse(t *testing.T) {
	v := "ckt_QzXvKwJqYzPxWvQk"
	for name, open := range providertest.Openers("env", provider.EnvOpener()) {
		t.Run("env/"+name, func(t *testing.T) {
			cases := providertest.RefusedURLs("env://OPENAI_API_KEY", "prefix")
			require.Greater(t, len(cases), 100)
			providertest.CheckRefused(t, open, cases)
			providertest.CheckRefused(t, open, []providertest.RefusedURL{
				{Why: "path", URL: "env://sk/" + v, Value: v},
				{Why: "path", URL: "env://" + v + "/x", Value: v},
			})
		})
	}
	for name, open := range providertest.Openers("file", provider.FileOpener()) {
		t.Run("file/"+name, func(t *testing.T) {
			for _, s := range []string{"format", "root", "allow_group_readable", "allow_insecure_mode"} {
				providertest.CheckRefused(t, open, providertest.RefusedURLs("file:///run/secrets/openai", s))
			}
			providertest.CheckRefused(t, open, []providertest.RefusedURL{
				{Why: "refused value", URL: "file:///run/secrets/openai?format=" + v, Value: v},
				{Why: "refused value", URL: "file:///run/secrets/openai?allow_group_readable=" + v, Value: v},
				{Why: "refused value", URL: "file:///run/secrets/openai?root=" + v, Value: v},
				{Why: "host", URL: "file://" + v + "/run/secrets/openai", Value: v},
			})
		})
	}
}
