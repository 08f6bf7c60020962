package azure_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/azurefake"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/provider/azure"
	"github.com/credkit/credkit/provider/providertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

const key = "sk-proj-FAKEazureQzXvKwJqYzPxWvQkZjXyVq"

var start = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*azurefake.Server, *azsecrets.Client) {
	t.Helper()
	fake := azurefake.New()
	t.Cleanup(fake.Close)
	return fake, fake.Client(-1)
}

// put stores a new version and returns its version ID.
func put(t *testing.T, c *azsecrets.Client, name, value string, attrs *azsecrets.SecretAttributes, tags map[string]*string) string {
	t.Helper()
	res, err := c.SetSecret(context.Background(), name, azsecrets.SetSecretParameters{Value: to.Ptr(value), SecretAttributes: attrs, Tags: tags}, nil)
	require.NoError(t, err)
	return res.ID.Version()
}

func setEnabled(t *testing.T, c *azsecrets.Client, name string, on bool) {
	t.Helper()
	_, err := c.UpdateSecretProperties(context.Background(), name, "", azsecrets.UpdateSecretPropertiesParameters{SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(on)}}, nil)
	require.NoError(t, err)
}

// deliver posts events (Event Grid schema) to an event handler at url.
func deliver(t testing.TB, url string, events ...map[string]any) *http.Response {
	t.Helper()
	b, err := json.Marshal(events)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("aeg-event-type", "Notification")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

func newVersionEvent(ev azurefake.Event) map[string]any {
	return map[string]any{
		"id": "3a6b2a5c-0000-4000-8000-000000000001", "topic": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/" + ev.VaultName,
		"subject": ev.ObjectName, "eventType": azure.EventSecretNewVersionCreated, "eventTime": "2026-11-25T09:00:00Z",
		"data": ev, "dataVersion": "1", "metadataVersion": "1",
	}
}

type harness struct {
	fake *azurefake.Server
	c    *azsecrets.Client
	p    *azure.Provider
}

func (h *harness) Provider() credential.Provider { return h.p }
func (h *harness) Create(t *testing.T, name, value string) string {
	put(t, h.c, name, value, nil, nil)
	return name
}
func (h *harness) Update(t *testing.T, ref, value string) { put(t, h.c, ref, value, nil, nil) }
func (h *harness) Delete(t *testing.T, ref string) {
	_, err := h.c.DeleteSecret(context.Background(), ref, nil)
	require.NoError(t, err)
}
func (h *harness) Deny(t *testing.T, ref string) { h.fake.Deny(ref) }
func (h *harness) BadRefs() []string {
	return []string{"bad name", "prod/openai", "a_b", "openai/0123/extra", "openai/not-a-version", strings.Repeat("k", 128), "x\x00y"}
}

// TestConformance runs providertest, push included: every new version the
// fake stores is delivered as an Event Grid event to an EventHandler
// mounted on an httptest server.
func TestConformance(t *testing.T) {
	fake, c := setup(t)
	p := azure.New(c)
	hook := credential.NewStatic("hook", credential.NewSecret("FAKE-hook-secret-0000000000"), credential.Metadata{})
	srv := httptest.NewServer(azure.NewEventHandler(hook, p))
	t.Cleanup(srv.Close)
	fake.OnNewVersion(func(ev azurefake.Event) {
		deliver(t, srv.URL+"?code=FAKE-hook-secret-0000000000", newVersionEvent(ev))
	})
	providertest.Run(t, &harness{fake: fake, c: c, p: p})
}

func TestFetchLatestPinnedFieldAndValidity(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()
	clk := fakeclock.New(start)
	p := azure.New(c, azure.WithClock(clk))

	exp := start.Add(48 * time.Hour)
	v1 := put(t, c, "openai", `{"api_key":"`+key+`","org":"org-FAKE"}`, &azsecrets.SecretAttributes{Expires: &exp}, nil)
	got, err := p.Fetch(ctx, "openai#api_key")
	require.NoError(t, err)
	assert.True(t, got.Secret.Reveal() == key, "value mismatch")
	assert.Equal(t, v1, got.ID)
	assert.True(t, got.Expires.Equal(exp), "exp becomes Version.Expires")
	assert.False(t, got.Created.IsZero())

	v2 := put(t, c, "openai", `{"api_key":"`+key+`-2"}`, nil, nil)
	got, err = p.Fetch(ctx, "openai#api_key")
	require.NoError(t, err)
	assert.Equal(t, v2, got.ID, "latest")
	assert.True(t, got.Expires.IsZero())
	pinned, err := p.Fetch(ctx, "openai/"+v1+"#api_key")
	require.NoError(t, err)
	assert.Equal(t, v1, pinned.ID, "pinned")
	assert.True(t, pinned.Secret.Reveal() == key)

	// exp in the past: never returned.
	clk.Advance(49 * time.Hour)
	_, err = p.Fetch(ctx, "openai/"+v1+"#api_key")
	assert.True(t, errors.Is(err, credential.ErrExpired), "got %v", err)

	// nbf ahead: not returned until it passes.
	nbf := clk.Now().Add(time.Hour)
	put(t, c, "anthropic", key, &azsecrets.SecretAttributes{NotBefore: &nbf}, nil)
	_, err = p.Fetch(ctx, "anthropic")
	assert.True(t, errors.Is(err, credential.ErrUnavailable), "got %v", err)
	assert.Contains(t, err.Error(), "not valid before")
	clk.Advance(time.Hour)
	_, err = p.Fetch(ctx, "anthropic")
	require.NoError(t, err)

	// A trailing newline is trimmed; NUL, CR and LF inside are refused.
	put(t, c, "nl", key+"\n", nil, nil)
	got, err = p.Fetch(ctx, "nl")
	require.NoError(t, err)
	assert.True(t, got.Secret.Reveal() == key)
	for i, bad := range []string{key + "\nX-Injected: 1", key + "\x00", "FAKE\rtoken0000"} {
		put(t, c, "bad", bad, nil, nil)
		_, err = p.Fetch(ctx, "bad")
		assert.True(t, errors.Is(err, credential.ErrInvalid), "value %d: got %v", i, err)
		assert.Equal(t, -1, providertest.Leak(err.Error(), bad))
	}
	put(t, c, "blank", "  ", nil, nil)
	_, err = p.Fetch(ctx, "blank")
	assert.True(t, errors.Is(err, credential.ErrInvalid))
}

func TestDisabledIsRevokedUnlessKeepLastGood(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()
	put(t, c, "openai", key, nil, nil)
	setEnabled(t, c, "openai", false)

	_, err := azure.New(c).Fetch(ctx, "openai")
	require.True(t, errors.Is(err, credential.ErrRevoked), "got %v", err)
	assert.Contains(t, err.Error(), "SecretDisabled", "Key Vault's error stays the cause")
	var se *azure.ServiceError
	require.True(t, errors.As(err, &se))
	assert.Equal(t, 403, se.StatusCode)
	var re *azcore.ResponseError
	assert.True(t, errors.As(err, &re), "the SDK's error is reachable")

	_, err = azure.New(c, azure.WithKeepLastGoodWhenDisabled()).Fetch(ctx, "openai")
	assert.True(t, errors.Is(err, credential.ErrUnavailable), "got %v", err)
	assert.False(t, errors.Is(err, credential.ErrRevoked))

	setEnabled(t, c, "openai", true)
	v, err := azure.New(c).Fetch(ctx, "openai")
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == key)
}

func TestErrorMapping(t *testing.T) {
	fake, c := setup(t)
	ctx := context.Background()
	put(t, c, "k", key, nil, nil)
	clk := fakeclock.New(start)
	p := azure.New(c, azure.WithClock(clk))

	_, err := p.Fetch(ctx, "missing")
	assert.True(t, errors.Is(err, credential.ErrNotFound))
	assert.Contains(t, err.Error(), "SecretNotFound")
	assert.Contains(t, err.Error(), "was not found in this key vault", "the service's text is the cause")

	fake.Deny("k")
	_, err = p.Fetch(ctx, "k")
	assert.True(t, errors.Is(err, credential.ErrPermission))
	assert.Contains(t, err.Error(), "ForbiddenByRbac")

	for _, f := range []azurefake.Fault{{Status: 500}, {Status: 503}, {Status: 429, RetryAfter: 3}} {
		fk, ck := setup(t)
		put(t, ck, "k", key, nil, nil)
		pk := azure.New(ck, azure.WithClock(clk))
		fk.SetFault(azurefake.OpGet, &f)
		_, err := pk.Fetch(ctx, "k")
		assert.True(t, errors.Is(err, credential.ErrUnavailable), "%d: got %v", f.Status, err)
		assert.Equal(t, -1, providertest.Leak(err.Error(), key))
	}

	// A token Key Vault refuses.
	fk, _ := setup(t)
	other := azurefake.New()
	defer other.Close()
	wrong, err := azsecrets.NewClient(fk.URL, other.Credential(), fk.ClientOptions(-1))
	require.NoError(t, err)
	_, err = azure.New(wrong).Fetch(ctx, "k")
	assert.True(t, errors.Is(err, credential.ErrPermission), "401: got %v", err)

	// A network failure.
	fk.Close()
	_, err = azure.New(fk.Client(-1)).Fetch(ctx, "k")
	assert.True(t, errors.Is(err, credential.ErrUnavailable), "got %v", err)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = p.Fetch(canceled, "k")
	assert.True(t, errors.Is(err, context.Canceled))
}

func TestDescribeMapsTagsContentTypeAndExpiry(t *testing.T) {
	fake, c := setup(t)
	exp := start.Add(30 * 24 * time.Hour)
	_, err := c.SetSecret(context.Background(), "openai", azsecrets.SetSecretParameters{
		Value: to.Ptr(key), ContentType: to.Ptr("text/plain"), SecretAttributes: &azsecrets.SecretAttributes{Expires: &exp},
		Tags: map[string]*string{"owner": to.Ptr("ml-team"), "env": to.Ptr("production"), "purpose": to.Ptr("support bot"), "system": to.Ptr("api.openai.com")},
	}, nil)
	require.NoError(t, err)
	for i := 0; i < 30; i++ {
		put(t, c, "other-"+string(rune('a'+i%26))+string(rune('a'+i/26)), key, nil, nil)
	}
	p := azure.New(c, azure.WithTagNames(azure.TagNames{Owner: "owner", Purpose: "purpose", Environment: "env", System: "system"}))
	fake.ResetCalls()
	d, err := p.Describe(context.Background(), "openai#api_key")
	require.NoError(t, err)
	assert.Equal(t, "ml-team", d.Metadata.Owner)
	assert.Equal(t, "production", d.Metadata.Environment)
	assert.Equal(t, "support bot", d.Metadata.Purpose)
	assert.Equal(t, "api.openai.com", d.Metadata.System)
	assert.Equal(t, "text/plain", d.Metadata.Tags[azure.ContentTypeTag])
	assert.True(t, d.Metadata.Expires.Equal(exp))
	assert.False(t, d.LastRotated.IsZero())
	assert.Equal(t, 2, fake.Calls(azurefake.OpList), "31 secrets: two listing pages")
	assert.Equal(t, 0, fake.Calls(azurefake.OpGet), "Describe reads no value")
	_, err = p.Describe(context.Background(), "other-aa")
	require.NoError(t, err)
	assert.Equal(t, 2, fake.Calls(azurefake.OpList), "one listing serves the Describes of a Set's opening")
	_, err = p.Describe(context.Background(), "missing")
	assert.True(t, errors.Is(err, credential.ErrNotFound))
}
