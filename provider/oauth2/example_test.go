package oauth2_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	xoauth2 "golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/oauthfake"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/oauth2"
	"github.com/credkit/credkit/rotate"
)

// api stands in for a model provider's API: it prints the headers a
// request authenticates with, with the token replaced by whether the token
// endpoint issued it.
func api(fake *oauthfake.Server) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		fmt.Println("API: bearer token valid:", fake.Valid(tok, time.Now()), "anthropic-beta:", r.Header.Get("Anthropic-Beta"))
	}))
}

// Client credentials from an oauth2:// URL, the client secret read from a
// file, the token kept fresh by rotate and sent by credential.Transport.
func Example() {
	fake := oauthfake.New(nil, time.Hour, oauthfake.Expect{Grant: "client_credentials", ClientID: "svc-rag", ClientSecret: "ckt-client-secret-FAKEFAKEFAKEFAKE"})
	defer fake.Close()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	secret := filepath.Join(dir, "client-secret")
	os.WriteFile(secret, []byte("ckt-client-secret-FAKEFAKEFAKEFAKE"), 0o600)

	mux := provider.NewURLMux()
	mux.Register("oauth2", oauth2.NewOpener(mux))
	u, _ := url.Parse(fake.TokenURL()) // https://login.example.com/oauth2/token in production
	ctx := context.Background()
	p, ref, err := mux.Resolve(ctx, "oauth2://"+u.Host+u.Path+"?client_id=svc-rag&client_secret=file://"+secret+"&scope=embed.read")
	if err != nil {
		panic(err)
	}
	tok, err := rotate.Watch(ctx, "vector-db", p, ref)
	if err != nil {
		panic(err)
	}
	defer tok.Close()
	v, _ := tok.Version()
	fmt.Println(v.Secret, "lives", v.Expires.Sub(v.Created))

	srv := api(fake)
	defer srv.Close()
	client := &http.Client{Transport: &credential.Transport{Credential: tok}} // Authorization: Bearer
	resp, err := client.Get(srv.URL + "/v1/indexes")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	// Output:
	// [REDACTED] lives 1h0m0s
	// API: bearer token valid: true anthropic-beta:
}

// OpenAI workload identity federation: the pod's projected
// service-account token is exchanged (RFC 8693) at auth.openai.com for an
// API token, re-read from its file at every exchange as the kubelet rotates
// it.
func Example_openAI() {
	fake := oauthfake.New(nil, time.Hour, oauthfake.Expect{
		Grant: oauth2.GrantTokenExchange, JSON: true, SubjectTokenType: oauth2.TokenTypeJWT, SubjectAudience: oauth2.OpenAIAudience,
		Params: map[string]string{"identity_provider_id": "idp_FAKE123", "service_account_id": "svc_FAKE456"},
	})
	defer fake.Close()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "token") // /var/run/secrets/openai/token, projected with audience https://api.openai.com/v1
	os.WriteFile(path, []byte(oauthfake.JWT(oauthfake.Claims{Sub: "system:serviceaccount:ml:support-bot", Aud: oauth2.OpenAIAudience, Exp: time.Now().Add(time.Hour).Unix()})), 0o644)

	cfg := oauth2.OpenAIConfig("idp_FAKE123", "svc_FAKE456")
	cfg.TokenURL = fake.TokenURL() // the default is oauth2.OpenAITokenURL
	p, err := oauth2.TokenExchange(cfg, oauth2.NewFile(path))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	tok, err := rotate.Watch(ctx, "openai", p, "", rotate.WithInterval(time.Hour, 0.1))
	if err != nil {
		panic(err)
	}
	defer tok.Close()
	d, _ := p.Describe(ctx, "")
	fmt.Println("short-lived:", d.Metadata.ShortLived, "subject:", d.Subject)

	srv := api(fake)
	defer srv.Close()
	// openai.NewClient(option.WithHTTPClient(client)) in a real service.
	client := &http.Client{Transport: &credential.Transport{Credential: tok}}
	resp, err := client.Get(srv.URL + "/v1/models")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	// Output:
	// short-lived: true subject: system:serviceaccount:ml:support-bot
	// API: bearer token valid: true anthropic-beta:
}

// Anthropic OIDC federation: a Google-signed ID token from the GCP
// metadata server is the assertion of an RFC 7523 jwt-bearer grant; the
// token is sent with AnthropicInjector (Bearer and the OAuth beta header).
func Example_anthropic() {
	meta := oauthfake.GCPMetadata(nil, "112233445566778899000")
	defer meta.Close()
	fake := oauthfake.New(nil, time.Hour, oauthfake.Expect{
		Grant: oauth2.GrantJWTBearer, JSON: true, SubjectAudience: "https://api.anthropic.com",
		Header: http.Header{"Anthropic-Beta": {oauth2.AnthropicOAuthBeta + "," + oauth2.AnthropicFederationBeta}},
		Params: map[string]string{"federation_rule_id": "fdrl_FAKE1", "organization_id": "org_FAKE2"},
	})
	defer fake.Close()

	cfg := oauth2.AnthropicConfig(oauth2.AnthropicFederation{FederationRuleID: "fdrl_FAKE1", OrganizationID: "org_FAKE2"})
	cfg.TokenURL = fake.TokenURL() // the default is oauth2.AnthropicTokenURL
	idToken := &oauth2.GCPIdentity{
		Audience: "https://api.anthropic.com",
		Endpoint: meta.URL + "/computeMetadata/v1/instance/service-accounts/default/identity", // the default is oauth2.GCPMetadataIdentityURL
	}
	p, err := oauth2.JWTBearer(cfg, idToken)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	tok, err := rotate.Watch(ctx, "anthropic", p, "", rotate.WithInterval(time.Hour, 0.1))
	if err != nil {
		panic(err)
	}
	defer tok.Close()

	srv := api(fake)
	defer srv.Close()
	client := &http.Client{Transport: &credential.Transport{Credential: tok, Inject: oauth2.AnthropicInjector()}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(`{}`))
	req.Header.Set("Anthropic-Beta", "prompt-caching-2024-07-31")
	resp, err := client.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	// Output:
	// API: bearer token valid: true anthropic-beta: prompt-caching-2024-07-31,oauth-2025-04-20
}

// Any golang.org/x/oauth2 TokenSource becomes a credkit credential.
func ExampleFromTokenSource() {
	fake := oauthfake.New(nil, 30*time.Minute, oauthfake.Expect{Grant: "client_credentials", ClientID: "svc"})
	defer fake.Close()
	cc := clientcredentials.Config{ClientID: "svc", TokenURL: fake.TokenURL(), AuthStyle: xoauth2.AuthStyleInParams}
	p := oauth2.FromTokenSource(cc.TokenSource(context.Background()), fake.TokenURL())
	v, err := p.Fetch(context.Background(), "")
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Secret, v.Expires.Sub(time.Now()).Round(time.Minute))
	// Output: [REDACTED] 30m0s
}

// A refused grant is credential.ErrPermission, and its error holds neither
// the token nor what the endpoint echoed back.
func ExampleProvider_Fetch_errors() {
	fake := oauthfake.New(nil, time.Hour, oauthfake.Expect{})
	defer fake.Close()
	fake.Refuse("invalid_grant")
	p, _ := oauth2.JWTBearer(oauth2.Config{TokenURL: fake.TokenURL()}, oauth2.Static(credential.NewSecret("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJGQUtFIn0.FAKESIG")))
	_, err := p.Fetch(context.Background(), "")
	fmt.Println(strings.Replace(err.Error(), fake.URL, "http://127.0.0.1", 1))
	// Output: credential: fetch http://127.0.0.1/oauth/token: permission denied: the token endpoint answered 400 invalid_grant
}
