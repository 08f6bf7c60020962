package aws_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/awsfake"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/aws"
	"github.com/credkit/credkit/provider/providertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

const key = "sk-proj-FAKEawsQzXvKwJqYzPxWvQkZjXyVqWzKxJv"

func setup(t *testing.T, maxAttempts int) (*awsfake.Server, *secretsmanager.Client) {
	fake := awsfake.New()
	t.Cleanup(fake.Close)
	return fake, fake.Client(maxAttempts)
}

func create(t *testing.T, c *secretsmanager.Client, name, value string, tags ...types.Tag) string {
	t.Helper()
	out, err := c.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: sdkaws.String(name), SecretString: sdkaws.String(value), Tags: tags})
	require.NoError(t, err)
	return sdkaws.ToString(out.ARN)
}

type harness struct {
	fake *awsfake.Server
	c    *secretsmanager.Client
	p    *aws.Provider
}

func (h *harness) Provider() credential.Provider { return h.p }
func (h *harness) Create(t *testing.T, name, value string) string {
	create(t, h.c, "conformance/"+name, value)
	return "conformance/" + name
}
func (h *harness) Update(t *testing.T, ref, value string) {
	_, err := h.c.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: sdkaws.String(ref), SecretString: sdkaws.String(value)})
	require.NoError(t, err)
}
func (h *harness) Delete(t *testing.T, ref string) {
	_, err := h.c.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: sdkaws.String(ref), ForceDeleteWithoutRecovery: sdkaws.Bool(true)})
	require.NoError(t, err)
}
func (h *harness) Deny(t *testing.T, ref string) { h.fake.Deny(ref) }

func TestConformance(t *testing.T) {
	fake, c := setup(t, 1)
	providertest.Run(t, &harness{fake: fake, c: c, p: aws.New(c)})
}

func TestFetchStagesVersionsBinaryAndARN(t *testing.T) {
	_, c := setup(t, 1)
	ctx := context.Background()
	arn := create(t, c, "prod/openai", `{"api_key":"`+key+`","org":"org-FAKE"}`)
	p := aws.New(c)

	v1, err := p.Fetch(ctx, "prod/openai#api_key")
	require.NoError(t, err)
	assert.True(t, v1.Secret.Reveal() == key, "value mismatch")
	assert.NotEmpty(t, v1.ID)
	assert.False(t, v1.Created.IsZero())
	vArn, err := p.Fetch(ctx, arn+"#api_key")
	require.NoError(t, err)
	assert.Equal(t, v1.ID, vArn.ID, "by ARN")

	// Rotation through AWSPENDING, then promotion.
	put, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: sdkaws.String("prod/openai"),
		SecretString: sdkaws.String(`{"api_key":"` + key + `-2"}`), VersionStages: []string{"AWSPENDING"}})
	require.NoError(t, err)
	pending, err := p.Fetch(ctx, "prod/openai?stage=AWSPENDING#api_key")
	require.NoError(t, err)
	assert.Equal(t, sdkaws.ToString(put.VersionId), pending.ID)
	cur, _ := p.Fetch(ctx, "prod/openai#api_key")
	assert.Equal(t, v1.ID, cur.ID, "AWSPENDING is not current yet")
	_, err = c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: sdkaws.String("prod/openai"),
		VersionStage: sdkaws.String("AWSCURRENT"), MoveToVersionId: put.VersionId, RemoveFromVersionId: sdkaws.String(v1.ID)})
	require.NoError(t, err)
	cur, _ = p.Fetch(ctx, "prod/openai#api_key")
	assert.Equal(t, pending.ID, cur.ID, "promoted")
	prev, err := p.Fetch(ctx, "prod/openai#api_key?stage=AWSPREVIOUS")
	require.NoError(t, err)
	assert.Equal(t, v1.ID, prev.ID, "the old current version is AWSPREVIOUS")
	byID, err := p.Fetch(ctx, "prod/openai?version="+v1.ID+"#api_key")
	require.NoError(t, err)
	assert.True(t, byID.Secret.Equal(v1.Secret))
	id, err := p.CurrentVersion(ctx, "prod/openai")
	require.NoError(t, err)
	assert.Equal(t, cur.ID, id)

	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: sdkaws.String("bin"), SecretBinary: []byte("FAKE-binary-token-0000")})
	require.NoError(t, err)
	bin, err := p.Fetch(ctx, "bin")
	require.NoError(t, err)
	assert.True(t, bin.Secret.Reveal() == "FAKE-binary-token-0000", "SecretBinary")
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: sdkaws.String("blob"), SecretBinary: []byte{0xff, 0xfe, 0x00}})
	require.NoError(t, err)
	_, err = p.Fetch(ctx, "blob")
	assert.True(t, errors.Is(err, credential.ErrInvalid))
}

func TestErrorMapping(t *testing.T) {
	fake, c := setup(t, 1)
	ctx := context.Background()
	create(t, c, "k", key)
	create(t, c, "doomed", key)
	_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: sdkaws.String("doomed"), RecoveryWindowInDays: sdkaws.Int64(7)})
	require.NoError(t, err)
	p := aws.New(c)

	_, err = p.Fetch(ctx, "missing")
	assert.True(t, errors.Is(err, credential.ErrNotFound), "ResourceNotFoundException")
	// A secret scheduled for deletion is revoked: its owner stopped it,
	// and RestoreSecret within the recovery window brings it back.
	_, err = p.Fetch(ctx, "doomed")
	assert.True(t, errors.Is(err, credential.ErrRevoked))
	assert.Contains(t, err.Error(), "scheduled for deletion")
	_, err = p.CurrentVersion(ctx, "doomed")
	assert.True(t, errors.Is(err, credential.ErrRevoked))

	for code, kind := range map[string]error{
		"AccessDeniedException":    credential.ErrPermission,
		"DecryptionFailure":        credential.ErrPermission,
		"KMSAccessDeniedException": credential.ErrPermission,
		"ThrottlingException":      credential.ErrUnavailable,
		"InternalServiceError":     credential.ErrUnavailable,
	} {
		status := 400
		if code == "InternalServiceError" {
			status = 500
		}
		fake.SetFault("GetSecretValue", &awsfake.Fault{Code: code, Status: status})
		_, err := p.Fetch(ctx, "k")
		assert.True(t, errors.Is(err, kind), "%s: got %v", code, err)
		assert.Contains(t, err.Error(), code)
		assert.Equal(t, -1, providertest.Leak(err.Error(), key))
	}
	fake.SetFault("GetSecretValue", nil)

	// The SDK's retryer is kept: with its default of 3 attempts, one
	// throttled call is retried and succeeds; credkit adds no retries.
	fake2, c2 := setup(t, 0)
	create(t, c2, "k", key)
	fake2.ResetCalls()
	fake2.SetFault("GetSecretValue", &awsfake.Fault{Code: "ThrottlingException", Times: 1})
	_, err = aws.New(c2).Fetch(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, 2, fake2.Calls("GetSecretValue"))

	// A network failure.
	fake.Close()
	_, err = p.Fetch(ctx, "k")
	assert.True(t, errors.Is(err, credential.ErrUnavailable))

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = p.Fetch(canceled, "k")
	assert.True(t, errors.Is(err, context.Canceled))
}

func TestDescribeMapsTagsAndRotation(t *testing.T) {
	fake, c := setup(t, 1)
	create(t, c, "prod/openai", key,
		types.Tag{Key: sdkaws.String("owner"), Value: sdkaws.String("ml-team")},
		types.Tag{Key: sdkaws.String("env"), Value: sdkaws.String("production")},
		types.Tag{Key: sdkaws.String("purpose"), Value: sdkaws.String("support bot")})
	last, next := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	fake.SetRotation("prod/openai", true, last, next)
	p := aws.New(c, aws.WithTagNames(aws.TagNames{Owner: "owner", Purpose: "purpose", Environment: "env", System: "system"}))
	d, err := p.Describe(context.Background(), "prod/openai")
	require.NoError(t, err)
	assert.Equal(t, "ml-team", d.Metadata.Owner)
	assert.Equal(t, "production", d.Metadata.Environment)
	assert.Equal(t, "support bot", d.Metadata.Purpose)
	assert.True(t, d.RotationEnabled)
	assert.True(t, d.LastRotated.Equal(last))
	assert.True(t, d.NextRotation.Equal(next))
	assert.Len(t, d.Metadata.Tags, 3)
}

func TestBatchPathsAndFallbackWhenDenied(t *testing.T) {
	fake, c := setup(t, 1)
	ctx := context.Background()
	var refs []string
	for i := 0; i < 45; i++ {
		name := fmt.Sprintf("prod/svc-%02d", i)
		create(t, c, name, fmt.Sprintf(`{"api_key":"%s-%02d"}`, key, i))
		refs = append(refs, name+"#api_key")
	}
	create(t, c, "prodigal/other", key) // shares the "prod" prefix, not "prod/"
	var logs bytes.Buffer
	p := aws.New(c, aws.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))

	fake.ResetCalls()
	ids, err := p.CurrentVersions(ctx, refs)
	require.NoError(t, err)
	assert.Len(t, ids, 45)
	assert.Equal(t, 1, fake.Calls("ListSecrets"), "45 secrets under one prefix: one page")
	for _, r := range refs {
		id, err := p.CurrentVersion(ctx, r)
		require.NoError(t, err)
		assert.Equal(t, id, ids[r])
	}

	fake.ResetCalls()
	vs, err := p.FetchBatch(ctx, refs)
	require.NoError(t, err)
	assert.Len(t, vs, 45)
	assert.Equal(t, 3, fake.Calls("BatchGetSecretValue"), "20 per call")
	assert.True(t, vs[refs[7]].Secret.Reveal() == key+"-07", "field of a batched secret")

	fake.SetFault("ListSecrets", &awsfake.Fault{Code: "AccessDeniedException"})
	fake.SetFault("BatchGetSecretValue", &awsfake.Fault{Code: "AccessDeniedException"})
	ids, err = p.CurrentVersions(ctx, refs)
	require.NoError(t, err)
	assert.Empty(t, ids, "denied: the caller falls back to per-secret checks")
	vs, err = p.FetchBatch(ctx, refs)
	require.NoError(t, err)
	assert.Empty(t, vs)
	fake.ResetCalls()
	_, _ = p.CurrentVersions(ctx, refs)
	_, _ = p.FetchBatch(ctx, refs)
	assert.Equal(t, 0, fake.TotalCalls(), "after a denial the batch calls are not tried again")
	assert.Equal(t, 1, strings.Count(logs.String(), "ListSecrets; using per-secret calls"), "logged once")
	assert.Equal(t, 1, strings.Count(logs.String(), "BatchGetSecretValue; using per-secret calls"))
}

func TestOpenerThroughURLMux(t *testing.T) {
	fake, c := setup(t, 1)
	create(t, c, "prod/openai", `{"api_key":"`+key+`"}`)
	arn := create(t, c, "prod/anthropic", key)
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("aws-sm", aws.NewOpener(aws.WithClient(c))))
	ctx := context.Background()

	p1, ref, err := mux.Resolve(ctx, "aws-sm://prod/openai#api_key?region=eu-west-1")
	require.NoError(t, err)
	assert.Equal(t, "prod/openai#api_key", ref)
	v, err := p1.Fetch(ctx, ref)
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == key, "value mismatch")

	p2, ref, err := mux.Resolve(ctx, "aws-sm:///"+arn+"?stage=AWSCURRENT")
	require.NoError(t, err)
	assert.Same(t, p1, p2, "one provider per configuration")
	assert.Equal(t, arn+"?stage=AWSCURRENT", ref)
	_, err = p2.Fetch(ctx, ref)
	require.NoError(t, err)

	// Without an injected client the opener loads the default config chain,
	// one provider per region and endpoint.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKE0000")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "FAKEsecretFAKEsecretFAKEsecretFAKEsecret")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	o := aws.NewOpener()
	mux2 := provider.NewURLMux()
	require.NoError(t, mux2.Register("aws-sm", o))
	pa, ref, err := mux2.Resolve(ctx, "aws-sm://prod/openai#api_key?region=us-east-1&endpoint="+fake.URL)
	require.NoError(t, err)
	v, err = pa.Fetch(ctx, ref)
	require.NoError(t, err, "through the default config chain and the endpoint parameter")
	assert.True(t, v.Secret.Reveal() == key, "value mismatch")
	pb, _, _ := mux2.Resolve(ctx, "aws-sm://prod/other?region=eu-west-1&endpoint="+fake.URL)
	assert.NotSame(t, pa, pb, "another region, another provider")

	_, _, err = mux.Resolve(ctx, "aws-sm://")
	assert.True(t, errors.Is(err, credential.ErrInvalid))
}

// One rule for every opener: an unknown or repeated setting is ErrInvalid
// naming the setting, never its value.
func TestOpenerRefusesUnknownAndRepeatedSettings(t *testing.T) {
	_, c := setup(t, 1)
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("aws-sm", aws.NewOpener(aws.WithClient(c))))
	const token = "FAKEvalQzXvKwJqYzPxWv"
	for raw, names := range map[string]string{
		"aws-sm://prod/openai?regoin=eu-west-1":                 `"regoin"`,
		"aws-sm://prod/openai?token=" + token:                   `"token"`,
		"aws-sm://prod/openai?stage=AWSCURRENT&stage=" + token:  `"stage" is given 2 times`,
		"aws-sm://prod/openai?region=eu-west-1&region=" + token: `"region" is given 2 times`,
		"aws-sm://prod/openai?" + token + "%2Fx%2By=1":          "an unknown setting",
	} {
		_, _, err := mux.Resolve(context.Background(), raw)
		require.Error(t, err, raw)
		assert.True(t, errors.Is(err, credential.ErrInvalid), raw)
		assert.Contains(t, err.Error(), names)
		assert.Equal(t, -1, providertest.Leak(err.Error(), token), "%s: the value is not printed", raw)
	}
	// The ref form of the provider follows the same rule.
	create(t, c, "prod/openai", key)
	_, err := aws.New(c).Fetch(context.Background(), "prod/openai?stagee=AWSPREVIOUS")
	assert.True(t, errors.Is(err, credential.ErrInvalid))
	assert.Contains(t, err.Error(), `"stagee"`)
}

// The opener's own errors print the URL without user info or values.
func TestOpenerErrorsHideTheURL(t *testing.T) {
	_, c := setup(t, 1)
	o := aws.NewOpener(aws.WithClient(c))
	const pw = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	for _, u := range []*url.URL{
		{Scheme: "aws-sm", User: url.UserPassword("AKIAFAKE", pw)},
		{Scheme: "aws-sm", RawQuery: "endpoint=" + url.QueryEscape("http://admin:"+pw+"@localhost")},
	} {
		_, _, err := o.OpenURL(context.Background(), u)
		require.Error(t, err)
		assert.True(t, errors.Is(err, credential.ErrInvalid))
		assert.Equal(t, -1, providertest.Leak(err.Error(), pw))
		var ce *credential.Error
		require.True(t, errors.As(err, &ce))
		assert.Equal(t, -1, providertest.Leak(ce.Ref, pw), "not even in the Ref field")
	}
}

// An SDK failure stays the cause: errors.Is finds the sentinel, errors.As
// the SDK's error, and the text names what happened without a value.
func TestErrorsKeepTheirCause(t *testing.T) {
	fake, c := setup(t, 1)
	create(t, c, "k", key)
	p := aws.New(c)
	fake.SetFault("GetSecretValue", &awsfake.Fault{Code: "ThrottlingException", Status: 400})
	_, err := p.Fetch(context.Background(), "k")
	assert.True(t, errors.Is(err, credential.ErrUnavailable))
	var ae smithy.APIError
	require.True(t, errors.As(err, &ae), "the API error is reachable")
	assert.Equal(t, "ThrottlingException", ae.ErrorCode())
	var re *awshttp.ResponseError
	require.True(t, errors.As(err, &re))
	assert.Contains(t, err.Error(), "HTTP 400")
	assert.NotContains(t, err.Error(), "injected fault", "AWS's message is not printed")
	fake.SetFault("GetSecretValue", nil)

	fake.Close()
	_, err = p.Fetch(context.Background(), "k")
	assert.True(t, errors.Is(err, credential.ErrUnavailable))
	var op *net.OpError
	require.True(t, errors.As(err, &op), "the network error is reachable: %v", err)
	assert.Contains(t, err.Error(), "connection refused")
	var ce *credential.Error
	require.True(t, errors.As(err, &ce))
	require.NotNil(t, errors.Unwrap(ce), "Unwrap reaches the cause")
	assert.Equal(t, -1, providertest.Leak(err.Error(), key))
}

func TestValuesWithNULOrLineBreaksAreRefused(t *testing.T) {
	_, c := setup(t, 1)
	create(t, c, "nl", key+"\nX-Evil: 1")
	create(t, c, "nul", key+"\x00")
	create(t, c, "pretty", "{\n  \"api_key\": \""+key+"\",\n  \"bad\": \"a\\r\\nb\"\n}\n")
	create(t, c, "trailing", key+"\n")
	p := aws.New(c)
	for _, ref := range []string{"nl", "nul", "pretty#bad"} {
		_, err := p.Fetch(context.Background(), ref)
		assert.True(t, errors.Is(err, credential.ErrInvalid), ref)
		if err != nil {
			assert.Equal(t, -1, providertest.Leak(err.Error(), key))
		}
	}
	v, err := p.Fetch(context.Background(), "pretty#api_key")
	require.NoError(t, err, "a JSON document may span lines")
	assert.True(t, v.Secret.Reveal() == key)
	v, err = p.Fetch(context.Background(), "trailing")
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == key, "one trailing newline is trimmed")
	vs, err := p.FetchBatch(context.Background(), []string{"nl", "trailing"})
	require.NoError(t, err)
	assert.NotContains(t, vs, "nl", "a batch never returns a refused value")
}
