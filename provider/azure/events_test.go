package azure_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/internal/azurefake"
	"github.com/credkit/credkit/provider/azure"
	"github.com/credkit/credkit/rotate"
)

const hookSecret = "FAKE-hook-secret-Qz7XvKwJqYzPxWvQkZj"

func hookCred() credential.Credential {
	return credential.NewStatic("hook", credential.NewSecret(hookSecret), credential.Metadata{})
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// counter is a PushTarget-backed provider with one registered callback
// per secret, counting notifications.
func watchCount(t *testing.T, p *azure.Provider, ref string) *atomic.Int32 {
	var n atomic.Int32
	stop, err := p.NotifyChange(ref, func() { n.Add(1) })
	require.NoError(t, err)
	t.Cleanup(stop)
	return &n
}

func post(t *testing.T, url, contentType string, headers map[string]string, body []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func kvData(name string) map[string]any {
	return map[string]any{"Id": "https://fakevault.vault.azure.net/secrets/" + name + "/0f5e3b1c9d8a4e7f8b6a5c4d3e2f1a0b",
		"VaultName": "fakevault", "ObjectType": "Secret", "ObjectName": name, "Version": "0f5e3b1c9d8a4e7f8b6a5c4d3e2f1a0b", "NBF": nil, "EXP": nil}
}

func egEvent(typ, name string) map[string]any {
	return map[string]any{"id": "e1", "topic": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/fakevault",
		"subject": name, "eventType": typ, "eventTime": "2026-11-25T09:00:00Z", "data": kvData(name), "dataVersion": "1", "metadataVersion": "1"}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestEventGridValidationHandshake(t *testing.T) {
	_, c := setup(t)
	srv := httptest.NewServer(azure.NewEventHandler(hookCred(), azure.New(c)))
	defer srv.Close()
	validation := mustJSON(t, []map[string]any{{
		"id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66", "topic": "/subscriptions/0", "subject": "",
		"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "eventTime": "2026-11-25T09:00:00Z",
		"data":        map[string]any{"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6", "validationUrl": "https://rp-eastus2.eventgrid.azure.net/api/subscriptions/0/validate?code=FAKE"},
		"dataVersion": "2", "metadataVersion": "1",
	}})
	hdr := map[string]string{"aeg-event-type": "SubscriptionValidation"}

	resp, body := post(t, srv.URL+"/hook?code="+hookSecret, "application/json", hdr, validation)
	require.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, `{"validationResponse":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}`, body)

	resp, _ = post(t, srv.URL+"/hook", "application/json", hdr, validation)
	assert.Equal(t, 401, resp.StatusCode, "the handshake needs the shared secret too")

	// CloudEvents 1.0: the OPTIONS abuse-protection handshake.
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/hook", nil)
	req.Header.Set("WebHook-Request-Origin", "eventgrid.azure.net")
	req.Header.Set("Authorization", "Bearer "+hookSecret)
	r2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	r2.Body.Close()
	assert.Equal(t, 200, r2.StatusCode)
	assert.Equal(t, "eventgrid.azure.net", r2.Header.Get("WebHook-Allowed-Origin"))
}

func TestEventGridDeliveriesBothSchemasAndRouting(t *testing.T) {
	_, c := setup(t)
	put(t, c, "openai", key, nil, nil)
	p := azure.New(c)
	_, err := p.Fetch(context.Background(), "openai") // learns its vault: fakevault
	require.NoError(t, err)
	srv := httptest.NewServer(azure.NewEventHandler(hookCred(), p))
	defer srv.Close()
	openai := watchCount(t, p, "openai#api_key")
	other := watchCount(t, p, "anthropic")
	url := srv.URL + "?code=" + hookSecret

	resp, _ := post(t, url, "application/json", map[string]string{"aeg-event-type": "Notification"},
		mustJSON(t, []any{egEvent(azure.EventSecretNewVersionCreated, "openai"), egEvent("Microsoft.KeyVault.KeyNewVersionCreated", "anthropic")}))
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, int32(1), openai.Load(), "Event Grid schema")
	assert.Equal(t, int32(0), other.Load(), "a key event is acknowledged and ignored")

	ce := map[string]any{"specversion": "1.0", "type": azure.EventSecretNewVersionCreated, "source": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/fakevault",
		"id": "c1", "time": "2026-11-25T09:00:00Z", "subject": "openai", "data": kvData("openai")}
	resp, _ = post(t, url, "application/cloudevents+json; charset=utf-8", nil, mustJSON(t, ce))
	require.Equal(t, 200, resp.StatusCode)
	resp, _ = post(t, url, "application/cloudevents-batch+json", nil, mustJSON(t, []any{ce}))
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, int32(3), openai.Load(), "CloudEvents schema, single and batch")

	other2 := egEvent(azure.EventSecretNewVersionCreated, "openai")
	d := kvData("openai")
	d["VaultName"] = "anothervault"
	other2["data"] = d
	resp, _ = post(t, url, "application/json", nil, mustJSON(t, []any{other2}))
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, int32(3), openai.Load(), "an event of another vault does not reach this one")

	// A version whose nbf is ahead is left to the poll after its nbf.
	ahead := egEvent(azure.EventSecretNewVersionCreated, "openai")
	d = kvData("openai")
	d["NBF"] = time.Now().Add(time.Hour).Unix()
	ahead["data"] = d
	resp, _ = post(t, url, "application/json", nil, mustJSON(t, []any{ahead}))
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, int32(3), openai.Load())
}

// TestForgedOversizedAndMalformedDeliveries: refused with 401, 413 and
// 400, nothing notified, no panic, and the logs hold neither the body nor
// the shared secret.
func TestForgedOversizedAndMalformedDeliveries(t *testing.T) {
	_, c := setup(t)
	p := azure.New(c)
	var logs syncBuffer
	srv := httptest.NewServer(azure.NewEventHandler(hookCred(), p, azure.WithMaxBody(4096),
		azure.WithHandlerLogger(slog.New(slog.NewTextHandler(&logs, nil)))))
	defer srv.Close()
	n := watchCount(t, p, "openai")
	good := mustJSON(t, []any{egEvent(azure.EventSecretNewVersionCreated, "openai")})

	for name, tc := range map[string]struct {
		url    string
		hdr    map[string]string
		body   []byte
		status int
	}{
		"no secret":            {srv.URL, nil, good, 401},
		"wrong secret":         {srv.URL + "?code=" + hookSecret[:len(hookSecret)-1] + "X", nil, good, 401},
		"secret as a prefix":   {srv.URL + "?code=" + hookSecret[:8], nil, good, 401},
		"wrong bearer":         {srv.URL, map[string]string{"Authorization": "Bearer FAKE-forged-000000"}, good, 401},
		"oversized":            {srv.URL + "?code=" + hookSecret, nil, bytes.Repeat([]byte(" "), 5000), 413},
		"not json":             {srv.URL + "?code=" + hookSecret, nil, []byte("<xml/>"), 400},
		"truncated":            {srv.URL + "?code=" + hookSecret, nil, good[:len(good)/2], 400},
		"empty array":          {srv.URL + "?code=" + hookSecret, nil, []byte("[]"), 400},
		"array of junk":        {srv.URL + "?code=" + hookSecret, nil, []byte(`[1,"x",null]`), 400},
		"no type":              {srv.URL + "?code=" + hookSecret, nil, []byte(`[{"data":{}}]`), 400},
		"bad object name":      {srv.URL + "?code=" + hookSecret, nil, []byte(`[{"eventType":"Microsoft.KeyVault.SecretNewVersionCreated","data":{"ObjectName":"../../etc"}}]`), 400},
		"data not an object":   {srv.URL + "?code=" + hookSecret, nil, []byte(`[{"eventType":"Microsoft.KeyVault.SecretNewVersionCreated","data":"openai"}]`), 400},
		"NBF not a number":     {srv.URL + "?code=" + hookSecret, nil, []byte(`[{"eventType":"Microsoft.KeyVault.SecretNewVersionCreated","data":{"ObjectName":"openai","NBF":"soon"}}]`), 400},
		"validation, no code":  {srv.URL + "?code=" + hookSecret, nil, []byte(`[{"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{}}]`), 400},
		"half good half wrong": {srv.URL + "?code=" + hookSecret, nil, []byte(`[{"eventType":"Microsoft.KeyVault.SecretNewVersionCreated","data":{"ObjectName":"openai"}},{"eventType":"Microsoft.KeyVault.SecretExpired","data":{"ObjectName":"a b"}}]`), 400},
	} {
		resp, _ := post(t, tc.url, "application/json", tc.hdr, tc.body)
		assert.Equal(t, tc.status, resp.StatusCode, name)
	}
	assert.Equal(t, int32(0), n.Load(), "no refused delivery notifies anything")

	// An oversized body without Content-Length (chunked) is cut at the limit.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`[{"eventType":"` + strings.Repeat("x", 8000) + `"}]`))
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"?code="+hookSecret, pr)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 413, resp.StatusCode)

	resp, _ = post(t, srv.URL+"?code="+hookSecret, "application/json", nil, good)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, int32(1), n.Load(), "a signed delivery notifies")
	assert.Contains(t, logs.String(), "missing or wrong shared secret")
	assert.NotContains(t, logs.String(), "FAKE-hook", "the logs never hold the shared secret, nor part of it")
	assert.NotContains(t, logs.String(), "FAKE-forged")
	assert.NotContains(t, logs.String(), "etc")

	// A handler wired without a secret refuses, never panics.
	bare := httptest.NewServer(azure.NewEventHandler(nil, p))
	defer bare.Close()
	resp, _ = post(t, bare.URL+"?code="+hookSecret, "application/json", nil, good)
	assert.Equal(t, 503, resp.StatusCode)

	// Entra-authenticated delivery: the service's own token check.
	entra := httptest.NewServer(azure.NewEventHandler(nil, p, azure.WithDeliveryAuthenticator(func(r *http.Request) bool {
		return r.Header.Get("Authorization") == "Bearer eyJFAKE.valid.jwt"
	})))
	defer entra.Close()
	resp, _ = post(t, entra.URL+"?code="+hookSecret, "application/json", nil, good)
	assert.Equal(t, 401, resp.StatusCode, "the shared secret is not accepted in its place")
	resp, _ = post(t, entra.URL, "application/json", map[string]string{"Authorization": "Bearer eyJFAKE.valid.jwt"}, good)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, int32(2), n.Load())

	// Other methods.
	r, err := http.Get(srv.URL + "?code=" + hookSecret)
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, 405, r.StatusCode)
}

// TestSignedDeliveryReachesASetWithoutPolling: a new version in Key Vault,
// delivered by Event Grid to the handler mounted on the Opener, rotates
// the credential of a rotate.Set whose clock never moves (so it never
// polls), with one GetSecret.
func TestSignedDeliveryReachesASetWithoutPolling(t *testing.T) {
	fake, c, clk := setupClock(t)
	create100(t, c, 3)
	clk.Advance(time.Second)
	o := opener(fake, clk)
	set := openSet(t, fake, o, 3, clk)
	srv := httptest.NewServer(azure.NewEventHandler(hookCred(), o, azure.WithHandlerClock(clk)))
	defer srv.Close()
	rotated := make(chan rotate.Event, 4)
	set.OnEvent(func(e rotate.Event) {
		if e.Kind == rotate.EventRotated {
			rotated <- e
		}
	})
	fake.OnNewVersion(func(ev azurefake.Event) {
		b, _ := json.Marshal([]any{newVersionEvent(ev)})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/keyvault", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+hookSecret)
		req.Header.Set("aeg-event-type", "Notification")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	fake.ResetCalls()
	put(t, c, "svc-001", `{"api_key":"`+key+`-001-v2"}`, nil, nil)
	select {
	case e := <-rotated:
		assert.Equal(t, "svc-001", e.Name)
	case <-time.After(5 * time.Second):
		t.Fatal("the delivery did not reach the Set")
	}
	s, err := set.Get(context.Background(), "svc-001")
	require.NoError(t, err)
	assert.True(t, s.Reveal() == key+"-001-v2")
	assert.Equal(t, 1, fake.Calls(azurefake.OpGet), "one GetSecret, for the pushed secret")
	assert.Equal(t, 0, fake.Calls(azurefake.OpList), "no poll")
}

// TestNearExpiryShowsInHandlerInventoryAndHealth: a secret 20 days from
// its exp, reported by SecretNearExpiry, is listed by the handler, due in
// the Set's inventory and a warning in its health check.
func TestNearExpiryShowsInHandlerInventoryAndHealth(t *testing.T) {
	fake, c, clk := setupClock(t)
	exp := clk.Now().Add(20 * 24 * time.Hour)
	for i, e := range []*time.Time{nil, &exp} {
		attrs := azsecretsAttrs(e)
		put(t, c, "svc-00"+string(rune('0'+i)), `{"api_key":"`+key+string(rune('a'+i))+`"}`, attrs, nil)
	}
	clk.Advance(time.Second)
	o := opener(fake, clk)
	set := openSet(t, fake, o, 2, clk, rotate.WithReminders(30*24*time.Hour, time.Hour))
	h := azure.NewEventHandler(hookCred(), o, azure.WithHandlerClock(clk))
	srv := httptest.NewServer(h)
	defer srv.Close()

	ev := egEvent(azure.EventSecretNearExpiry, "svc-001")
	d := kvData("svc-001")
	d["EXP"] = exp.Unix()
	ev["data"] = d
	resp, _ := post(t, srv.URL+"?code="+hookSecret, "application/json", nil, mustJSON(t, []any{ev}))
	require.Equal(t, 200, resp.StatusCode)
	near := h.NearExpiry()
	require.Len(t, near, 1)
	assert.Equal(t, "svc-001", near[0].Name)
	assert.True(t, near[0].Expires.Equal(exp))

	var item rotate.InventoryItem
	for _, it := range set.Inventory().Credentials {
		if it.Name == "svc-001" {
			item = it
		}
	}
	assert.True(t, item.Expires.Equal(exp), "exp is in the inventory")
	assert.True(t, item.DueSoon, "and due within the reminder window")
	checks := health.SetChecks(set, health.CredentialOptions{ExpiryWindow: 30 * 24 * time.Hour, Clock: clk})
	for _, ch := range checks {
		r := ch.Run(context.Background())
		if ch.Component == "svc-001" {
			assert.Equal(t, health.Warn, r.Status, r.Output)
		} else {
			assert.Equal(t, health.Pass, r.Status, r.Output)
		}
	}

	// A new version clears it.
	ev = egEvent(azure.EventSecretNewVersionCreated, "svc-001")
	resp, _ = post(t, srv.URL+"?code="+hookSecret, "application/json", nil, mustJSON(t, []any{ev}))
	require.Equal(t, 200, resp.StatusCode)
	assert.Empty(t, h.NearExpiry())
}

func azsecretsAttrs(exp *time.Time) *azsecrets.SecretAttributes {
	if exp == nil {
		return nil
	}
	return &azsecrets.SecretAttributes{Expires: exp}
}
