package aws_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider/aws"
	"github.com/credkit/credkit/provider/providertest"
)

// TestOpenersRefuseUserInfoUnknownAndRepeatedSettings: bedrock-key:// and
// aws-sm:// follow the one rule of every opener (provider.Settings): user
// info, an unknown setting and a repeated setting are ErrInvalid, naming
// the setting and never printing a value.
func TestOpenersRefuseUserInfoUnknownAndRepeatedSettings(t *testing.T) {
	bk := aws.NewBedrockOpener(aws.WithBedrockCredentials(static(fakeCreds)))
	for name, open := range providertest.Openers("bedrock-key", bk) {
		t.Run("bedrock-key/"+name, func(t *testing.T) {
			for _, s := range []string{"expires", "profile"} {
				cases := providertest.RefusedURLs("bedrock-key://us-east-1", s)
				require.Greater(t, len(cases), 100)
				providertest.CheckRefused(t, open, cases)
			}
			// A value where the region or a setting's value belongs.
			v := "ABSKQzXvKwJqYzPxWvQk"
			providertest.CheckRefused(t, open, []providertest.RefusedURL{
				{Why: "not a region", URL: "bedrock-key://" + v, Value: v},
				{Why: "not a region", URL: "bedrock-key://" + v + "?expires=1h", Value: v},
				{Why: "refused value", URL: "bedrock-key://us-east-1?expires=" + v, Value: v},
				{Why: "field", URL: "bedrock-key://us-east-1#" + v, Value: v},
			})
		})
	}
	_, c := setup(t, 1)
	sm := aws.NewOpener(aws.WithClient(c))
	for name, open := range providertest.Openers("aws-sm", sm) {
		t.Run("aws-sm/"+name, func(t *testing.T) {
			for _, s := range []string{"region", "stage", "version", "endpoint", "profile"} {
				providertest.CheckRefused(t, open, providertest.RefusedURLs("aws-sm://prod/openai", s))
			}
		})
	}
}

// TestBedrockRefsWithLineBreaksRefused: a bedrock ref that is no region —
// a pasted value, or one holding NUL, CR or LF — is ErrInvalid at Fetch
// and Describe, printed nowhere, not even in the inventory's tags.
func TestBedrockRefsWithLineBreaksRefused(t *testing.T) {
	b := aws.NewBedrockKeys(static(fakeCreds))
	ctx := context.Background()
	for i, ref := range []string{
		"ABSKQzXvKwJqYzPxWvQk", "eu-west-3\x00QzXvKwJq", "eu-west-3\r\nX-Qzxv-Kwjq: 1", "eu-west-3\nQzXvKwJq",
		"QzXv\rKwJq", "eu-west-3\n\n",
	} {
		_, err := b.Fetch(ctx, ref)
		require.Error(t, err, "case %d", i)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "case %d", i)
		assert.Equal(t, -1, providertest.Leak(fmt.Sprintf("%v %+v", err, err), ref), "case %d", i)
		d, err := b.Describe(ctx, ref)
		require.Error(t, err, "describe case %d", i)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "describe case %d", i)
		assert.Equal(t, -1, providertest.Leak(fmt.Sprintf("%v %+v", err, d), ref), "describe case %d", i)
	}
}
