package azure_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/azure"
	"github.com/credkit/credkit/provider/providertest"
	"github.com/credkit/credkit/rotate"
)

// fakeTokens is a TokenCredential on a fake clock: each call mints a new
// token of the given life for Azure OpenAI's scope only, or fails with err.
type fakeTokens struct {
	clk   *fakeclock.Clock
	life  time.Duration
	calls atomic.Int32
	mu    sync.Mutex
	err   error
	token string // when set, returned as it is
}

func (f *fakeTokens) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	n := f.calls.Add(1)
	f.mu.Lock()
	err, tok := f.err, f.token
	f.mu.Unlock()
	if err != nil {
		return azcore.AccessToken{}, err
	}
	if len(o.Scopes) != 1 || o.Scopes[0] != azure.CognitiveServicesScope {
		return azcore.AccessToken{}, errors.New("fake: unexpected scope")
	}
	if tok == "" {
		tok = fmt.Sprintf("eyJ0eXAiOiJKV1QiFAKE.%06d.FAKEsignature", n)
	}
	return azcore.AccessToken{Token: tok, ExpiresOn: f.clk.Now().Add(f.life)}, nil
}

// TestTokenWatchedTenMinutes: a token with a 60 s life, watched for 10
// simulated minutes, is refreshed ahead of each expiry and never served
// expired.
func TestTokenWatchedTenMinutes(t *testing.T) {
	clk := fakeclock.New(start)
	cred := &fakeTokens{clk: clk, life: time.Minute}
	p := azure.NewTokenProvider(cred, azure.WithTokenClock(clk))
	c, err := rotate.Watch(context.Background(), "azure-openai", p, azure.CognitiveServicesScope,
		rotate.WithClock(clk), rotate.WithRefreshAhead(0.8, 10*time.Second), rotate.WithInterval(time.Hour, 0))
	require.NoError(t, err)
	defer c.Close()
	var rotations atomic.Int32
	c.OnRotate(func(rotate.Event) { rotations.Add(1) })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	end := start.Add(10 * time.Minute)
	for clk.Now().Before(end) {
		require.True(t, clk.WaitTimers(ctx, 1))
		clk.Advance(2 * time.Second)
		require.True(t, clk.WaitTimers(ctx, 1)) // the refresh, if one was due, is done
		_, err := c.Get(ctx)
		require.NoError(t, err, "at %s", clk.Now().Sub(start))
		v, ok := c.Version()
		require.True(t, ok)
		require.True(t, clk.Now().Before(v.Expires), "an expired token is served at %s", clk.Now().Sub(start))
	}
	// One fetch every 48 s (80% of 60 s): 12 or 13 in 10 minutes, plus the first.
	assert.InDelta(t, 13, int(cred.calls.Load()), 1)
	assert.InDelta(t, 12, int(rotations.Load()), 1)
}

func TestTokenErrors(t *testing.T) {
	clk := fakeclock.New(start)
	cred := &fakeTokens{clk: clk, life: time.Hour}
	p := azure.NewTokenProvider(cred, azure.WithTokenClock(clk))
	ctx := context.Background()

	v, err := p.Fetch(ctx, azure.CognitiveServicesScope)
	require.NoError(t, err)
	assert.True(t, v.Expires.Equal(start.Add(time.Hour)))
	assert.Equal(t, v.Secret.Fingerprint(), v.ID, "the ID is the keyed fingerprint, not the token")
	assert.Equal(t, -1, providertest.Leak(v.ID, v.Secret.Reveal()))

	for name, tc := range map[string]struct {
		err  error
		kind error
	}{
		"invalid_grant":  {&azidentity.AuthenticationFailedError{RawResponse: &http.Response{StatusCode: 400}}, credential.ErrPermission},
		"unauthorized":   {&azidentity.AuthenticationFailedError{RawResponse: &http.Response{StatusCode: 401}}, credential.ErrPermission},
		"Entra ID down":  {&azidentity.AuthenticationFailedError{RawResponse: &http.Response{StatusCode: 503}}, credential.ErrUnavailable},
		"no identity":    {errors.New("ManagedIdentityCredential: no managed identity endpoint"), credential.ErrUnavailable},
		"context ending": {context.DeadlineExceeded, context.DeadlineExceeded},
	} {
		cred.mu.Lock()
		cred.err = tc.err
		cred.mu.Unlock()
		_, err := p.Fetch(ctx, azure.CognitiveServicesScope)
		assert.True(t, errors.Is(err, tc.kind), "%s: %v", name, err)
	}
	cred.mu.Lock()
	cred.err = nil
	cred.token = "eyJFAKE\r\nX-Injected: 1"
	cred.mu.Unlock()
	_, err = p.Fetch(ctx, azure.CognitiveServicesScope)
	assert.True(t, errors.Is(err, credential.ErrInvalid))
	assert.Equal(t, -1, providertest.Leak(err.Error(), "eyJFAKE\r\nX-Injected: 1"))
	cred.mu.Lock()
	cred.token = " "
	cred.mu.Unlock()
	_, err = p.Fetch(ctx, azure.CognitiveServicesScope)
	assert.True(t, errors.Is(err, credential.ErrInvalid))

	cred.mu.Lock()
	cred.token, cred.life = "", -time.Second
	cred.mu.Unlock()
	_, err = p.Fetch(ctx, azure.CognitiveServicesScope)
	assert.True(t, errors.Is(err, credential.ErrExpired))

	for _, bad := range []string{"", "not a scope", "https://x/.default\n"} {
		_, err = p.Fetch(ctx, bad)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "%q", bad)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = p.Fetch(canceled, azure.CognitiveServicesScope)
	assert.True(t, errors.Is(err, context.Canceled))
}

func TestTokenOpener(t *testing.T) {
	clk := fakeclock.New(start)
	cred := &fakeTokens{clk: clk, life: time.Hour}
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("azure-token", azure.NewTokenOpener(azure.WithTokenCredential(cred), azure.WithTokenProviderOptions(azure.WithTokenClock(clk)))))
	ctx := context.Background()

	p, ref, err := mux.Resolve(ctx, "azure-token://?scope=https://cognitiveservices.azure.com/.default")
	require.NoError(t, err)
	assert.Equal(t, azure.CognitiveServicesScope, ref)
	v, err := p.Fetch(ctx, ref)
	require.NoError(t, err)
	assert.False(t, v.Secret.IsZero())
	p2, ref2, err := mux.Resolve(ctx, "azure-token://")
	require.NoError(t, err)
	assert.Same(t, p, p2, "one provider per tenant")
	assert.Equal(t, azure.CognitiveServicesScope, ref2, "Azure OpenAI's scope by default")
	p3, _, err := mux.Resolve(ctx, "azure-token://?tenant=contoso.onmicrosoft.com")
	require.NoError(t, err)
	assert.NotSame(t, p, p3)

	for raw, want := range map[string]string{
		"azure-token://?scope=a&scope=https://x/.default": `"scope" is given 2 times`,
		"azure-token://?client_secret=FAKEsecret000000":   `unknown setting "client_secret"`,
		"azure-token://?scope=FAKE%20secret":              "not an Entra ID scope",
		"azure-token://?tenant=FAKE/secret":               "not a tenant",
		"azure-token://FAKEhost/x":                        "takes only settings",
	} {
		_, _, err := mux.Resolve(ctx, raw)
		require.Error(t, err, raw)
		assert.True(t, errors.Is(err, credential.ErrInvalid), raw)
		assert.Contains(t, err.Error(), want, raw)
		assert.NotContains(t, err.Error(), "FAKE", raw)
	}
}

// TestTokenFromRealAzidentityAgainstFakeEntra: azidentity's
// ClientSecretCredential (the real MSAL client) against an in-process Entra
// ID token endpoint that checks the grant, the client secret and the scope.
func TestTokenFromRealAzidentityAgainstFakeEntra(t *testing.T) {
	const tenant, clientID, clientSecret = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b", "Qv~ZxKwJqYzPxWvQkZjXyVqWz"
	var tokens atomic.Int32
	entra := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := "https://" + r.Host + "/" + tenant
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/" + tenant + "/v2.0/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]any{"token_endpoint": base + "/oauth2/v2.0/token", "authorization_endpoint": base + "/oauth2/v2.0/authorize", "issuer": base + "/v2.0"})
		case "/" + tenant + "/oauth2/v2.0/token":
			if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("client_id") != clientID ||
				!strings.Contains(r.PostForm.Get("scope"), azure.CognitiveServicesScope) {
				w.WriteHeader(400)
				json.NewEncoder(w).Encode(map[string]any{"error": "invalid_request", "error_description": "AADSTS900144: malformed request"})
				return
			}
			if r.PostForm.Get("client_secret") != clientSecret {
				w.WriteHeader(401)
				json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
				return
			}
			n := tokens.Add(1)
			json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": fmt.Sprintf("eyJ0eXAiOiJKV1QiFAKEentra.%04d.FAKEsig", n)})
		default:
			w.WriteHeader(404)
		}
	}))
	defer entra.Close()
	newCred := func(secret string) azcore.TokenCredential {
		c, err := azidentity.NewClientSecretCredential(tenant, clientID, secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: entra.URL + "/"}, Transport: entra.Client()},
			DisableInstanceDiscovery: true,
		})
		require.NoError(t, err)
		return c
	}
	ctx := context.Background()

	p := azure.NewTokenProvider(newCred(clientSecret))
	v, err := p.Fetch(ctx, azure.CognitiveServicesScope)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(v.Secret.Reveal(), "eyJ0eXAiOiJKV1QiFAKEentra."))
	assert.WithinDuration(t, time.Now().Add(3599*time.Second), v.Expires, time.Minute, "Version.Expires is the token's expiry")
	v2, err := p.Fetch(ctx, azure.CognitiveServicesScope)
	require.NoError(t, err)
	assert.Equal(t, v.ID, v2.ID, "azidentity's cache: the same token, the same version")
	assert.Equal(t, int32(1), tokens.Load())

	_, err = azure.NewTokenProvider(newCred("Wj~PqZvXwJkYzQvWxKjZyPqRx")).Fetch(ctx, azure.CognitiveServicesScope)
	assert.True(t, errors.Is(err, credential.ErrPermission), "invalid_client: %v", err)
	assert.Equal(t, -1, providertest.Leak(err.Error(), "Wj~PqZvXwJkYzQvWxKjZyPqRx"))
	assert.Equal(t, -1, providertest.Leak(err.Error(), clientSecret))
}

// fakeJWT returns an obviously fake unsigned JWT with claims.
func fakeJWT(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	b, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + ".FAKEsignatureFAKE"
}

// Issue 17: an Entra ID token in a rotate.Set shows in the inventory as
// short-lived, with its TTL, its issuer (the token's "iss") and subject
// (the app's client ID), and no rotation noise (no due date, no "no
// rotation period" finding). A token that is not a readable JWT gives the
// authority with the tenant as issuer. The inventory holds no token.
func TestTokenInventory(t *testing.T) {
	clk := fakeclock.New(start)
	const iss, appID = "https://sts.windows.net/00000000-0000-0000-0000-0000000fa4e0/", "00000000-0000-0000-0000-0000000fa4e1"
	cred := &fakeTokens{clk: clk, life: time.Hour, token: fakeJWT(map[string]any{"iss": iss, "appid": appID, "oid": "00000000-0000-0000-0000-0000000fa4e2", "aud": "https://cognitiveservices.azure.com"})}
	other := &fakeTokens{clk: clk, life: time.Hour}
	mux := provider.NewURLMux()
	require.NoError(t, mux.Register("azure-token", azure.NewTokenOpener(azure.WithTokenCredential(cred), azure.WithTokenProviderOptions(azure.WithTokenClock(clk)))))
	require.NoError(t, mux.Register("other-token", azure.NewTokenOpener(azure.WithTokenCredential(other), azure.WithTokenProviderOptions(azure.WithTokenClock(clk)))))
	meta := credential.Metadata{Owner: "ml-team", Purpose: "chat", Environment: "production"}
	ctx := context.Background()
	set, err := rotate.Open(ctx, mux, []rotate.Config{
		{Name: "azure-openai", URL: "azure-token://", Metadata: meta},
		{Name: "opaque", URL: "other-token://?tenant=contoso.onmicrosoft.com", Metadata: meta},
	}, rotate.WithClock(clk))
	require.NoError(t, err)
	defer set.Close()

	it, ok := set.Item("azure-openai")
	require.True(t, ok)
	assert.True(t, it.ShortLived)
	assert.Equal(t, time.Hour, it.TTL)
	assert.Equal(t, iss, it.Issuer)
	assert.Equal(t, appID, it.Subject)
	assert.Equal(t, "cognitiveservices.azure.com", it.Metadata.System)
	assert.True(t, it.Expires.Equal(start.Add(time.Hour)))
	assert.Zero(t, it.RotationDue, "a token's expiry is no rotation due date")
	assert.False(t, it.DueSoon)
	assert.Empty(t, it.Findings)

	op, _ := set.Item("opaque")
	assert.True(t, op.ShortLived)
	assert.Equal(t, "https://login.microsoftonline.com/contoso.onmicrosoft.com", op.Issuer)
	assert.Empty(t, op.Subject)

	b, err := json.Marshal(set.Inventory())
	require.NoError(t, err)
	assert.NotContains(t, string(b), cred.token)
	assert.NotContains(t, string(b), "FAKEsignature")
}
