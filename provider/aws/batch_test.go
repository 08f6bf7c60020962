package aws_test

import (
	"context"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/provider/aws"
)

// DescribeBatch answers from ListSecrets what Describe answers from
// DescribeSecret, in one call per 100 secrets.
func TestDescribeBatchMatchesDescribe(t *testing.T) {
	fake, c := setup(t, 1)
	ctx := context.Background()
	create(t, c, "prod/openai", key, types.Tag{Key: sdkaws.String("owner"), Value: sdkaws.String("ml-team")},
		types.Tag{Key: sdkaws.String("environment"), Value: sdkaws.String("production")})
	create(t, c, "prod/pinecone", key)
	last := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	fake.SetRotation("prod/openai", true, last, last.Add(30*24*time.Hour))
	p := aws.New(c)
	fake.ResetCalls()
	got, err := p.DescribeBatch(ctx, []string{"prod/openai#api_key", "prod/pinecone", "prod/missing"})
	require.NoError(t, err)
	assert.Equal(t, 1, fake.Calls("ListSecrets"))
	assert.Zero(t, fake.Calls("DescribeSecret"))
	require.Len(t, got, 2, "a secret that was not listed is left out, for Describe")
	for _, ref := range []string{"prod/openai#api_key", "prod/pinecone"} {
		one, err := p.Describe(ctx, ref)
		require.NoError(t, err)
		assert.Equal(t, one, got[ref], ref)
	}
	assert.Equal(t, "ml-team", got["prod/openai#api_key"].Metadata.Owner)
	assert.True(t, got["prod/openai#api_key"].RotationEnabled)
	assert.True(t, got["prod/openai#api_key"].LastRotated.Equal(last))
}
