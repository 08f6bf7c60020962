package oauth2_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/internal/oauthfake"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/oauth2"
)

func newMux(t *testing.T, opts ...oauth2.OpenerOption) *provider.URLMux {
	t.Helper()
	mux := provider.NewURLMux()
	if err := mux.Register("oauth2", oauth2.NewOpener(mux, opts...)); err != nil {
		t.Fatal(err)
	}
	return mux
}

// hostPath is the fake's token endpoint as the host and path of an
// oauth2:// URL.
func hostPath(fake *oauthfake.Server) string {
	u, _ := url.Parse(fake.TokenURL())
	return u.Host + u.Path
}

func TestOpenerClientCredentials(t *testing.T) {
	fc := fakeclock.New(t0)
	fake := oauthfake.New(fc, time.Hour, oauthfake.Expect{Grant: "client_credentials", ClientID: "svc-rag", ClientSecret: fakeSecret, Scope: "embed.read embed.write", Audience: "https://vectors.example.com"})
	defer fake.Close()
	secretFile := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secretFile, []byte(fakeSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	mux := newMux(t, oauth2.WithProviderOptions(oauth2.WithClock(fc)))
	raw := "oauth2://" + hostPath(fake) + "?grant=client_credentials&client_id=svc-rag&client_secret=file://" + secretFile + "&scope=embed.read+embed.write&audience=https://vectors.example.com"
	ctx := context.Background()
	p, ref, err := mux.Resolve(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if ref != fake.TokenURL() {
		t.Fatalf("ref = %q", ref)
	}
	v, err := p.Fetch(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	checkVersion(t, fake, v, t0, time.Hour)
	// The same settings in another order: the same provider.
	p2, _, err := mux.Resolve(ctx, "oauth2://"+hostPath(fake)+"?audience=https://vectors.example.com&scope=embed.read+embed.write&client_secret=file://"+secretFile+"&client_id=svc-rag&grant=client_credentials")
	if err != nil || p2 != p {
		t.Fatalf("not shared: %v", err)
	}
	d, _ := p.(credential.Describer).Describe(ctx, ref)
	if d.Subject != "svc-rag" || len(d.Metadata.Scopes) != 2 {
		t.Fatalf("Describe = %+v", d.Metadata)
	}
}

func TestOpenerFederation(t *testing.T) {
	fc := fakeclock.New(t0)
	ctx := context.Background()

	// OpenAI: token exchange of a Kubernetes token file.
	openai := openAIFake(fc, time.Hour)
	defer openai.Close()
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, path, k8sToken("system:serviceaccount:ml:rag", openaiAud, t0.Add(time.Hour)))
	mux := newMux(t, oauth2.WithProviderOptions(oauth2.WithClock(fc)))
	p, ref, err := mux.Resolve(ctx, "oauth2://"+hostPath(openai)+"?grant=token_exchange&preset=openai&subject=file://"+path+"&param.identity_provider_id=idp_FAKE123&param.service_account_id=svc_FAKE456")
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Fetch(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	checkVersion(t, openai, v, t0, time.Hour)

	// Anthropic: jwt-bearer with a GCP ID token.
	meta := oauthfake.GCPMetadata(fc, "1122334455")
	defer meta.Close()
	anthropic := oauthfake.New(fc, 30*time.Minute, oauthfake.Expect{
		Grant: oauth2.GrantJWTBearer, JSON: true, SubjectAudience: "https://api.anthropic.com",
		Header: http.Header{"Anthropic-Beta": {"oauth-2025-04-20,oidc-federation-2026-04-01"}},
		Params: map[string]string{"federation_rule_id": "fdrl_FAKE1", "organization_id": "org_FAKE2"},
	})
	defer anthropic.Close()
	imds := oauthfake.AzureIMDS(fc, "azure-sub")
	defer imds.Close()
	mux = newMux(t, oauth2.WithProviderOptions(oauth2.WithClock(fc)),
		oauth2.WithMetadataEndpoints(meta.URL+"/computeMetadata/v1/instance/service-accounts/default/identity", imds.URL+"/metadata/identity/oauth2/token", nil))
	p, ref, err = mux.Resolve(ctx, "oauth2://"+hostPath(anthropic)+"?grant=jwt_bearer&preset=anthropic&subject=gcp-identity&subject_audience=https://api.anthropic.com&param.federation_rule_id=fdrl_FAKE1&param.organization_id=org_FAKE2")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := p.(credential.Describer).Describe(ctx, ref)
	if d.Subject != "1122334455" {
		t.Fatalf("subject before the first grant = %q", d.Subject)
	}
	v, err = p.Fetch(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	checkVersion(t, anthropic, v, t0, 30*time.Minute)

	// A form-encoded exchange of an Azure managed-identity token.
	azure := oauthfake.New(fc, 10*time.Minute, oauthfake.Expect{Grant: oauth2.GrantTokenExchange, SubjectTokenType: oauth2.TokenTypeJWT, SubjectAudience: "api://federation"})
	defer azure.Close()
	p, ref, err = mux.Resolve(ctx, "oauth2://"+hostPath(azure)+"?grant=token_exchange&subject=azure-managed-identity&subject_resource=api://federation&subject_type=jwt")
	if err != nil {
		t.Fatal(err)
	}
	v, err = p.Fetch(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	checkVersion(t, azure, v, t0, 10*time.Minute)
}

// Bad URLs are ErrInvalid, naming the setting and never its value.
func TestOpenerErrors(t *testing.T) {
	mux := newMux(t)
	ctx := context.Background()
	const v = "VALUEVALUE42"
	for _, tc := range []struct{ url, names string }{
		{"oauth2://login.example.com/token?grant=client_credentials&client_id=a&clientid=" + v, `"clientid"`},
		{"oauth2://login.example.com/token?grant=client_credentials&client_id=a&client_id=" + v, `"client_id"`},
		{"oauth2://login.example.com/token?grant=client_credentials&client_id=a&client_secret=" + v, `"client_secret"`},
		{"oauth2://login.example.com/token?grant=" + v, `"grant"`},
		{"oauth2://login.example.com/token?grant=token_exchange", `"subject"`},
		{"oauth2://login.example.com/token?grant=jwt_bearer&subject=gcp-identity", `"subject_audience"`},
		{"oauth2://login.example.com/token?grant=token_exchange&subject=azure-managed-identity", `"subject_resource"`},
		{"oauth2://login.example.com/token?grant=token_exchange&subject=file://relative/" + v, `"subject"`},
		{"oauth2://login.example.com/token?grant=token_exchange&subject=nope://" + v, `"subject"`},
		{"oauth2://login.example.com/token?grant=client_credentials&client_id=a&param.subject_token=" + v, `"param.subject_token"`},
		{"oauth2://login.example.com/token?grant=client_credentials&client_id=a&format=" + v, `"format"`},
		{"oauth2://login.example.com/token?grant=client_credentials&client_id=a&preset=" + v, `"preset"`},
		{"oauth2://login.example.com/token?grant=client_credentials&client_id=a&auth=" + v, `"auth"`},
		{"oauth2://login.example.com/token?grant=client_credentials&client_id=a&subject_type=" + v, `"subject_type"`},
		{"oauth2://login.example.com/token?grant=client_credentials&client_id=a&subject=gcp-identity&subject_audience=" + v, `"subject"`},
		{"oauth2://login.example.com/token#" + v, "#field"},
		{"oauth2:///token?grant=client_credentials&client_id=" + v, "host"},
		{"oauth2://login.example.com/token?grant=client_credentials", "client id"},
	} {
		_, _, err := mux.Resolve(ctx, tc.url)
		if !errors.Is(err, credential.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", credential.SafeRef(tc.url), err)
			continue
		}
		if strings.Contains(err.Error(), v) {
			t.Errorf("the error shows a setting's value: %v", err)
		}
		if !strings.Contains(err.Error(), tc.names) {
			t.Errorf("the error does not name %s: %v", tc.names, err)
		}
	}
	// Without a resolver, a client secret URL cannot be read.
	bare := provider.NewURLMux()
	bare.Register("oauth2", oauth2.NewOpener(nil))
	if _, _, err := bare.Resolve(ctx, "oauth2://login.example.com/token?client_id=a&client_secret=env://X"); !errors.Is(err, credential.ErrInvalid) {
		t.Errorf("no resolver: %v", err)
	}
}
