package gcp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	smpb "cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/gcpfake"
	"github.com/credkit/credkit/provider/gcp"
	"github.com/credkit/credkit/provider/providertest"
)

type harness struct {
	e *env
	p credential.Provider
}

func (h *harness) Provider() credential.Provider { return h.p }
func (h *harness) Create(t *testing.T, name, value string) string {
	h.e.create(t, secretName(name), value, withTopic)
	return secretName(name)
}
func (h *harness) Update(t *testing.T, ref, value string) { h.e.add(t, ref, value) }
func (h *harness) Delete(t *testing.T, ref string) {
	require.NoError(t, h.e.c.DeleteSecret(context.Background(), &smpb.DeleteSecretRequest{Name: ref}))
}
func (h *harness) Deny(t *testing.T, ref string) { h.e.fake.Deny(ref) }
func (h *harness) StoresEmpty()                  {}
func (h *harness) BadRefs() []string {
	return []string{
		"openai",
		"projects//secrets/openai",
		"projects/p/secrets/open ai",
		"projects/p/secrets/openai/versions/0",
		"projects/p/secrets/openai/versions/",
		"projects/p/locations//secrets/openai",
		"projects/p/secrets/openai\x00",
		"projects/p/secrets/openai#",
		"projects/p/keys/openai",
	}
}

// TestConformance runs providertest against the provider with push: the
// real SDK over gRPC to the fake, Pub/Sub through pstest.
func TestConformance(t *testing.T) {
	e := setup(t)
	n, err := gcp.NewNotifier(context.Background(), e.pubsubClient(t), gcp.WithTopic(topic, 0))
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	providertest.Run(t, &harness{e: e, p: gcp.NewPushProvider(gcp.New(e.c), n)})
}

func TestFetchLatestNumberAliasAndField(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	name := secretName("openai")
	e.create(t, name, `{"api_key":"`+key+`-1","org":"org-FAKE"}`)
	e.add(t, name, `{"api_key":"`+key+`-2"}`)
	p := gcp.New(e.c)

	v, err := p.Fetch(ctx, name+"#api_key")
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == key+"-2", "latest is version 2")
	assert.Equal(t, "2", v.ID, "Version.ID is the concrete version, not \"latest\"")
	v1, err := p.Fetch(ctx, name+"/versions/1#api_key")
	require.NoError(t, err)
	assert.True(t, v1.Secret.Reveal() == key+"-1")
	assert.Equal(t, "1", v1.ID)
	lv, err := p.Fetch(ctx, name+"/versions/latest#api_key")
	require.NoError(t, err)
	assert.Equal(t, "2", lv.ID)

	// An alias, then the alias moved.
	e.setAliases(t, name, map[string]int64{"prod": 1})
	a, err := p.Fetch(ctx, name+"/versions/prod#api_key")
	require.NoError(t, err)
	assert.Equal(t, "1", a.ID)
	assert.True(t, a.Secret.Equal(v1.Secret))
	e.setAliases(t, name, map[string]int64{"prod": 2})
	a, err = p.Fetch(ctx, name+"/versions/prod#api_key")
	require.NoError(t, err)
	assert.Equal(t, "2", a.ID, "the alias moved to version 2")
	assert.True(t, a.Secret.Reveal() == key+"-2")
	_, err = p.Fetch(ctx, name+"/versions/canary")
	assert.True(t, errors.Is(err, credential.ErrNotFound), "an unknown alias")

	// A regional secret.
	regional := "projects/" + project + "/locations/europe-west4/secrets/anthropic"
	e.create(t, regional, key+"-eu")
	r, err := p.Fetch(ctx, regional)
	require.NoError(t, err)
	assert.True(t, r.Secret.Reveal() == key+"-eu")
	assert.Equal(t, "1", r.ID)

	// Payloads that are no credential.
	e.create(t, secretName("bin"), "\xff\xfe\x00")
	_, err = p.Fetch(ctx, secretName("bin"))
	assert.True(t, errors.Is(err, credential.ErrInvalid), "not UTF-8")
	// One trailing newline ("gcloud secrets versions add --data-file"
	// leaves one) is trimmed, by the rule every backend shares.
	e.create(t, secretName("nl"), key+"\n")
	nl, err := p.Fetch(ctx, secretName("nl"))
	require.NoError(t, err)
	assert.True(t, nl.Secret.Reveal() == key, "one trailing newline is trimmed")
	for i, bad := range []string{key + "\n\n", "ckt_QzXvKw\r\nQzXvKwJq", "ckt_ZyKxWq\x00JvPzYx", "ckt_QzXvKw\rQzXvKwJq"} {
		n := secretName(fmt.Sprintf("ctl-%d", i))
		e.create(t, n, bad)
		_, err = p.Fetch(ctx, n)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "a value with NUL, CR or LF is refused (%d)", i)
		assert.Equal(t, -1, providertest.Leak(err.Error(), bad))
	}
}

// TestCRCMismatch: a payload whose CRC32C does not match is ErrUnavailable
// and never returned.
func TestCRCMismatch(t *testing.T) {
	e := setup(t)
	name := secretName("openai")
	e.create(t, name, key)
	require.NoError(t, e.fake.CorruptPayload(name+"/versions/1"))
	v, err := gcp.New(e.c).Fetch(context.Background(), name)
	require.Error(t, err)
	assert.True(t, errors.Is(err, credential.ErrUnavailable), "got %v", err)
	assert.Contains(t, err.Error(), "CRC32C")
	assert.True(t, v.Secret.IsZero(), "no value is returned")
	assert.Equal(t, -1, providertest.Leak(err.Error(), key))
}

func TestErrorMapping(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	name := secretName("openai")
	e.create(t, name, key)
	p := gcp.New(e.c, gcp.WithSDKRetry(1, 0))

	_, err := p.Fetch(ctx, secretName("missing"))
	assert.True(t, errors.Is(err, credential.ErrNotFound))
	_, err = p.Fetch(ctx, name+"/versions/9")
	assert.True(t, errors.Is(err, credential.ErrNotFound))

	for c, kind := range map[codes.Code]error{
		codes.NotFound:          credential.ErrNotFound,
		codes.PermissionDenied:  credential.ErrPermission,
		codes.Unauthenticated:   credential.ErrPermission,
		codes.Unavailable:       credential.ErrUnavailable,
		codes.ResourceExhausted: credential.ErrUnavailable,
		codes.DeadlineExceeded:  credential.ErrUnavailable,
		codes.Internal:          credential.ErrUnavailable,
		codes.InvalidArgument:   credential.ErrInvalid,
	} {
		e.fake.SetFault("AccessSecretVersion", &gcpfake.Fault{Code: c, Message: "Secret [" + name + "] says " + c.String()})
		_, err := p.Fetch(ctx, name)
		assert.True(t, errors.Is(err, kind), "%s: got %v", c, err)
		assert.Equal(t, c, status.Code(errors.Unwrap(err)), "the gRPC status is the cause")
		assert.Contains(t, err.Error(), "says "+c.String(), "with its message")
		assert.Equal(t, -1, providertest.Leak(err.Error(), key))
	}
	e.fake.SetFault("AccessSecretVersion", nil)

	// A pinned version that is disabled is revoked, in any mode.
	e.add(t, name, key+"-2")
	e.disable(t, name, "1")
	_, err = p.Fetch(ctx, name+"/versions/1")
	assert.True(t, errors.Is(err, credential.ErrRevoked), "got %v", err)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = p.Fetch(canceled, name)
	assert.True(t, errors.Is(err, context.Canceled))
	short, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	e.fake.SetFault("AccessSecretVersion", &gcpfake.Fault{Latency: time.Minute})
	_, err = p.Fetch(short, name)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "the caller's deadline is returned as it is: %v", err)
	e.fake.SetFault("AccessSecretVersion", nil)

	// The server is gone.
	e.fake.Close()
	_, err = p.Fetch(ctx, name)
	assert.True(t, errors.Is(err, credential.ErrUnavailable), "got %v", err)
}

// TestSDKRetry: the SDK retries Unavailable once (the provider's default
// bound); credkit adds no loop, so a lasting failure costs exactly two
// calls and is ErrUnavailable for rotate's backoff to handle.
func TestSDKRetry(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	name := secretName("openai")
	e.create(t, name, key)
	p := gcp.New(e.c, gcp.WithSDKRetry(2, 5*time.Millisecond))

	e.fake.ResetCalls()
	e.fake.SetFault("AccessSecretVersion", &gcpfake.Fault{Code: codes.Unavailable, Times: 1})
	v, err := p.Fetch(ctx, name)
	require.NoError(t, err, "the SDK's retry succeeds")
	assert.True(t, v.Secret.Reveal() == key)
	assert.Equal(t, 2, e.fake.Calls("AccessSecretVersion"), "one failed call, one retry")

	e.fake.ResetCalls()
	e.fake.SetFault("AccessSecretVersion", &gcpfake.Fault{Code: codes.ResourceExhausted})
	_, err = p.Fetch(ctx, name)
	assert.True(t, errors.Is(err, credential.ErrUnavailable))
	assert.Equal(t, 2, e.fake.Calls("AccessSecretVersion"), "two calls, no second loop on top of the SDK's")

	e.fake.ResetCalls()
	e.fake.SetFault("AccessSecretVersion", &gcpfake.Fault{Code: codes.PermissionDenied})
	_, err = p.Fetch(ctx, name)
	assert.True(t, errors.Is(err, credential.ErrPermission))
	assert.Equal(t, 1, e.fake.Calls("AccessSecretVersion"), "a denial is not retried")
}

func TestDescribe(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	next := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	gone := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	name := secretName("openai")
	e.create(t, name, `{"api_key":"`+key+`"}`, func(s *smpb.Secret) {
		s.Labels = map[string]string{"env": "production", "system": "api-openai-com", "team": "ml"}
		s.Annotations = map[string]string{"owner": "ml-team@example.com", "purpose": "chat completions for the support bot"}
		s.Rotation = &smpb.Rotation{NextRotationTime: timestamppb.New(next)}
		s.Expiration = &smpb.Secret_ExpireTime{ExpireTime: timestamppb.New(gone)}
	})
	p := gcp.New(e.c, gcp.WithMetadataNames(gcp.MetadataNames{Owner: "owner", Purpose: "purpose", Environment: "env", System: "system"}))
	e.fake.ResetCalls()
	d, err := p.Describe(ctx, name+"#api_key")
	require.NoError(t, err)
	assert.Equal(t, "ml-team@example.com", d.Metadata.Owner, "an e-mail address from an annotation")
	assert.Equal(t, "chat completions for the support bot", d.Metadata.Purpose)
	assert.Equal(t, "production", d.Metadata.Environment, "from a label")
	assert.Equal(t, "api-openai-com", d.Metadata.System)
	assert.Len(t, d.Metadata.Tags, 5)
	assert.True(t, d.RotationEnabled)
	assert.True(t, d.NextRotation.Equal(next))
	assert.True(t, d.Metadata.Expires.Equal(gone), "expire_time: when the service deletes the secret")
	d.Metadata.Tags["team"] = "mutated"
	d2, err := p.Describe(ctx, name+"/versions/latest")
	require.NoError(t, err)
	assert.Equal(t, "ml", d2.Metadata.Tags["team"], "callers get a copy")
	assert.Equal(t, 1, e.fake.Calls("GetSecret"), "one GetSecret per secret: metadata reads are the scarce quota")
	assert.Equal(t, 1, e.fake.TotalCalls())

	e.fake.ResetCalls()
	d, err = gcp.New(e.c, gcp.WithoutDescribe()).Describe(ctx, name)
	require.NoError(t, err)
	assert.Empty(t, d.Metadata.Owner)
	assert.Equal(t, 0, e.fake.TotalCalls(), "WithoutDescribe makes no call")

	defaults, err := gcp.New(e.c).Describe(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, "ml-team@example.com", defaults.Metadata.Owner)
	assert.Empty(t, defaults.Metadata.Environment, "the default name is environment, not env")
}

// TestDisabledLatestServesNewestEnabled: by default a disabled or
// destroyed latest version never breaks the service: the newest enabled
// version is served and the condition is reported, at the cost of one
// metadata read per 10 minutes.
func TestDisabledLatestServesNewestEnabled(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	name := secretName("openai")
	e.create(t, name, key+"-1")
	e.add(t, name, key+"-2")
	e.add(t, name, key+"-3")
	var logs bytes.Buffer
	var mu sync.Mutex
	var hooked []gcp.Condition
	p := gcp.New(e.c, gcp.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), gcp.WithConditionHook(func(c gcp.Condition) {
		mu.Lock()
		hooked = append(hooked, c)
		mu.Unlock()
	}))

	e.disable(t, name, "3")
	e.fake.ResetCalls()
	v, err := p.Fetch(ctx, name)
	require.NoError(t, err, "a disabled latest does not break the service")
	assert.Equal(t, "2", v.ID)
	assert.True(t, v.Secret.Reveal() == key+"-2")
	assert.Equal(t, map[string]int{"AccessSecretVersion": 2, "ListSecretVersions": 1}, e.fake.CallCounts())
	conds := p.AllConditions()
	require.Len(t, conds, 1)
	assert.Equal(t, gcp.Condition{Ref: name, Secret: name, Latest: "3", LatestState: "DISABLED", Served: "2", Since: conds[0].Since}, conds[0])
	assert.Contains(t, logs.String(), "serving the newest enabled version")

	e.fake.ResetCalls()
	v, err = p.Fetch(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, "2", v.ID)
	assert.Equal(t, map[string]int{"AccessSecretVersion": 2}, e.fake.CallCounts(), "the next poll makes no metadata read")

	// Destroyed, and the served one disabled too: the list is read again.
	e.destroy(t, name, "3")
	e.disable(t, name, "2")
	v, err = p.Fetch(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, "1", v.ID)
	conds = p.AllConditions()
	require.Len(t, conds, 1)
	assert.Equal(t, "DESTROYED", conds[0].LatestState)
	assert.Equal(t, "1", conds[0].Served)

	// Nothing enabled at all.
	e.disable(t, name, "1")
	_, err = p.Fetch(ctx, name)
	assert.True(t, errors.Is(err, credential.ErrNotFound), "got %v", err)

	// A new version ends the condition.
	e.add(t, name, key+"-4")
	v, err = p.Fetch(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, "4", v.ID)
	assert.Empty(t, p.AllConditions())
	mu.Lock()
	require.NotEmpty(t, hooked)
	assert.True(t, hooked[len(hooked)-1].Resolved, "the hook hears that it ended")
	assert.False(t, hooked[0].Resolved)
	mu.Unlock()
	assert.Equal(t, -1, providertest.Leak(logs.String(), key))
}

// TestDisabledLatestRevokes: with WithDisabledLatestRevokes a disabled
// latest fails with ErrRevoked and the hook hears of it once.
func TestDisabledLatestRevokes(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	name := secretName("openai")
	e.create(t, name, key+"-1")
	e.add(t, name, key+"-2")
	var hooks []gcp.Condition
	p := gcp.New(e.c, gcp.WithDisabledLatestRevokes(), gcp.WithConditionHook(func(c gcp.Condition) { hooks = append(hooks, c) }))
	_, err := p.Fetch(ctx, name)
	require.NoError(t, err)

	e.disable(t, name, "2")
	for i := 0; i < 3; i++ {
		_, err = p.Fetch(ctx, name)
		require.Error(t, err)
		assert.True(t, errors.Is(err, credential.ErrRevoked), "got %v", err)
		assert.Equal(t, codes.FailedPrecondition, status.Code(errors.Unwrap(err)))
	}
	require.Len(t, hooks, 1, "reported once")
	assert.Equal(t, gcp.Condition{Ref: name, Secret: name, Latest: "2", LatestState: "DISABLED", Revoked: true, Since: hooks[0].Since}, hooks[0])
	e.enable(t, name, "2")
	v, err := p.Fetch(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, "2", v.ID)
	require.Len(t, hooks, 2)
	assert.True(t, hooks[1].Resolved)
	assert.Empty(t, p.AllConditions())
	_ = strings.TrimSpace
}
