package oauth2_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/internal/oauthfake"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/oauth2"
	"github.com/credkit/credkit/rotate"
)

// toFake sends every request to the fake token endpoint, as DNS pointing
// auth.openai.com at it would.
type toFake struct {
	fake *url.URL
	base *http.Transport
}

func (t toFake) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = t.fake.Scheme, t.fake.Host
	return t.base.RoundTrip(r)
}

// A minted token in a rotate.Set's inventory: the row says it is
// short-lived, with its TTL, issuer and subject; the token's expiry is the
// row's expires, but not a rotation due date, so the token is never "due
// soon", raises no rotation reminder and no "no rotation period" finding.
// The JSON is an excerpt of the row.
func Example_inventory() {
	clk := fakeclock.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	fake := oauthfake.New(clk, time.Hour, oauthfake.Expect{
		Grant: oauth2.GrantTokenExchange, JSON: true, SubjectTokenType: oauth2.TokenTypeJWT, SubjectAudience: oauth2.OpenAIAudience,
		Params: map[string]string{"identity_provider_id": "idp_FAKE123", "service_account_id": "svc_FAKE456"},
	})
	defer fake.Close()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "token") // the pod's projected service-account token
	os.WriteFile(path, []byte(oauthfake.JWT(oauthfake.Claims{Sub: "system:serviceaccount:ml:support-bot", Aud: oauth2.OpenAIAudience, Exp: clk.Now().Add(time.Hour).Unix()})), 0o644)
	fu, _ := url.Parse(fake.URL)
	tr := toFake{fake: fu, base: &http.Transport{}}
	defer tr.base.CloseIdleConnections()

	mux := provider.NewURLMux()
	mux.Register("oauth2", oauth2.NewOpener(mux, oauth2.WithProviderOptions(oauth2.WithClock(clk), oauth2.WithHTTPClient(&http.Client{Transport: tr}))))
	set, err := rotate.Open(context.Background(), mux, []rotate.Config{{
		Name: "openai",
		URL: "oauth2://auth.openai.com/oauth/token?grant=token_exchange&preset=openai&subject=file://" + path +
			"&param.identity_provider_id=idp_FAKE123&param.service_account_id=svc_FAKE456",
		Metadata: credential.Metadata{Owner: "ml-team", Purpose: "support bot chat", Environment: "production", System: "api.openai.com"},
	}}, rotate.WithClock(clk), rotate.WithInterval(time.Hour, 0.1))
	if err != nil {
		panic(err)
	}
	defer set.Close()

	row, _ := set.Item("openai")
	b, _ := json.Marshal(row)
	var all map[string]any
	json.Unmarshal(b, &all)
	excerpt := map[string]any{}
	for _, k := range []string{"name", "backend", "short_lived", "ttl_ns", "issuer", "subject", "expires", "rotation_due", "due_soon", "findings"} {
		if v, ok := all[k]; ok {
			excerpt[k] = v
		}
	}
	out, _ := json.MarshalIndent(excerpt, "", "  ")
	fmt.Println(string(out))
	fmt.Println("rotation due:", !row.RotationDue.IsZero(), "due soon:", row.DueSoon, "findings:", len(row.Findings))
	// Output:
	// {
	//   "backend": "oauth2",
	//   "expires": "2026-11-25T10:00:00Z",
	//   "issuer": "https://auth.openai.com/oauth/token",
	//   "name": "openai",
	//   "short_lived": true,
	//   "subject": "system:serviceaccount:ml:support-bot",
	//   "ttl_ns": 3600000000000
	// }
	// rotation due: false due soon: false findings: 0
}
