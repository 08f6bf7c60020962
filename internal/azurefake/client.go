package azurefake

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// Credential is a static-token azcore.TokenCredential that hands out the
// fake's token, and only for Key Vault's scope (as Entra ID would refuse a
// token for a resource the app has no access to). It counts its calls.
type Credential struct {
	token string
	calls atomic.Int64
}

// Credential returns a TokenCredential accepted by s.
func (s *Server) Credential() *Credential { return &Credential{token: s.token} }

// GetToken implements azcore.TokenCredential.
func (c *Credential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	if err := ctx.Err(); err != nil {
		return azcore.AccessToken{}, err
	}
	if len(o.Scopes) != 1 || o.Scopes[0] != Scope {
		return azcore.AccessToken{}, errors.New("azurefake: a token was asked for another scope than Key Vault's")
	}
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Calls returns how many tokens were asked for.
func (c *Credential) Calls() int { return int(c.calls.Load()) }

// ClientOptions returns the options a real client needs to talk to s: its
// TLS certificate trusted, challenge resource verification off (the fake
// is not under vault.azure.net), and the SDK's retries set to retries (a
// negative number for none; 0 keeps the SDK default of 3) with short
// delays.
func (s *Server) ClientOptions(retries int) *azsecrets.ClientOptions {
	o := &azsecrets.ClientOptions{DisableChallengeResourceVerification: true}
	hc := s.Server.Client()
	if t, ok := hc.Transport.(*http.Transport); ok {
		t = t.Clone()
		t.MaxIdleConnsPerHost = 32 // as many as a provider's concurrent requests: no TLS handshake per request
		hc = &http.Client{Transport: t}
	}
	o.Transport = hc
	o.Retry = policy.RetryOptions{MaxRetries: int32(retries), RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond}
	return o
}

// Client returns a real Key Vault client for s, authenticated by
// s.Credential(), with the SDK's retries set as ClientOptions does.
func (s *Server) Client(retries int) *azsecrets.Client {
	c, err := azsecrets.NewClient(s.URL, s.Credential(), s.ClientOptions(retries))
	if err != nil {
		panic("azurefake: " + err.Error())
	}
	return c
}
