package oauth2_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	xoauth2 "golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/internal/oauthfake"
	"github.com/credkit/credkit/provider/oauth2"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

const (
	fakeSecret = "ckt-client-secret-FAKEFAKEFAKEFAKE"
	openaiAud  = "https://api.openai.com/v1"
)

func writeToken(t *testing.T, path, tok string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func k8sToken(sub, aud string, exp time.Time) string {
	return oauthfake.JWT(oauthfake.Claims{Iss: "https://kubernetes.default.svc", Sub: sub, Aud: aud, Exp: exp.Unix()})
}

// checkVersion asserts that v is a token the fake issued, dated on the
// clock, living life.
func checkVersion(t *testing.T, fake *oauthfake.Server, v credential.Version, now time.Time, life time.Duration) {
	t.Helper()
	if !fake.Valid(v.Secret.Reveal(), now) {
		t.Fatalf("the endpoint does not know the token returned, or it is expired")
	}
	if !v.Expires.Equal(now.Add(life)) || !v.Created.Equal(now) {
		t.Fatalf("Created %v Expires %v, want %v and %v", v.Created, v.Expires, now, now.Add(life))
	}
	if v.ID == "" || strings.Contains(v.ID, v.Secret.Reveal()[:8]) {
		t.Fatalf("version ID %q is empty or shows the token", v.ID)
	}
	if f := fake.Failures(); len(f) > 0 {
		t.Fatalf("the endpoint refused requests: %v", f)
	}
}

func TestClientCredentials(t *testing.T) {
	for _, style := range []xoauth2.AuthStyle{xoauth2.AuthStyleInHeader, xoauth2.AuthStyleInParams} {
		fc := fakeclock.New(t0)
		fake := oauthfake.New(fc, time.Hour, oauthfake.Expect{
			Grant: "client_credentials", ClientID: "svc-rag", ClientSecret: fakeSecret,
			Scope: "embed.read embed.write", Audience: "https://vectors.example.com",
		})
		p, err := oauth2.ClientCredentials(oauth2.Config{
			TokenURL: fake.TokenURL(), ClientID: "svc-rag", ClientSecret: oauth2.Static(credential.NewSecret(fakeSecret)),
			Scopes: []string{"embed.read", "embed.write"}, Audience: "https://vectors.example.com", AuthStyle: style,
		}, oauth2.WithClock(fc))
		if err != nil {
			t.Fatal(err)
		}
		v, err := p.Fetch(context.Background(), "")
		if err != nil {
			t.Fatalf("style %v: %v", style, err)
		}
		checkVersion(t, fake, v, t0, time.Hour)
		fake.Close()
	}
}

func TestClientCredentialsJSON(t *testing.T) {
	fc := fakeclock.New(t0)
	fake := oauthfake.New(fc, time.Hour, oauthfake.Expect{Grant: "client_credentials", ClientID: "svc-rag", ClientSecret: fakeSecret, JSON: true})
	defer fake.Close()
	p, err := oauth2.ClientCredentials(oauth2.Config{TokenURL: fake.TokenURL(), ClientID: "svc-rag", ClientSecret: oauth2.Static(credential.NewSecret(fakeSecret)), JSON: true}, oauth2.WithClock(fc))
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Fetch(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	checkVersion(t, fake, v, t0, time.Hour)
}

// OpenAI's workload identity federation with a Kubernetes projected token.
func TestTokenExchangeOpenAIKubernetes(t *testing.T) {
	fc := fakeclock.New(t0)
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, path, k8sToken("system:serviceaccount:ml:rag", openaiAud, t0.Add(time.Hour)))
	fake := oauthfake.New(fc, time.Hour, oauthfake.Expect{
		Grant: oauth2.GrantTokenExchange, JSON: true, SubjectTokenType: oauth2.TokenTypeJWT, SubjectAudience: openaiAud,
		Params: map[string]string{"identity_provider_id": "idp_FAKE123", "service_account_id": "svc_FAKE456"},
	})
	defer fake.Close()
	cfg := oauth2.OpenAIConfig("idp_FAKE123", "svc_FAKE456")
	cfg.TokenURL = fake.TokenURL()
	p, err := oauth2.TokenExchange(cfg, oauth2.NewFile(path), oauth2.WithClock(fc))
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Fetch(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	checkVersion(t, fake, v, t0, time.Hour)
	d, _ := p.Describe(context.Background(), "")
	if d.Subject != "system:serviceaccount:ml:rag" || !d.Metadata.ShortLived || d.Issuer != fake.TokenURL() {
		t.Fatalf("Describe = %+v", d)
	}
}

// Anthropic's OIDC federation with a GCP metadata-server ID token.
func TestJWTBearerAnthropicGCP(t *testing.T) {
	fc := fakeclock.New(t0)
	meta := oauthfake.GCPMetadata(fc, "112233445566778899000")
	defer meta.Close()
	fake := oauthfake.New(fc, 30*time.Minute, oauthfake.Expect{
		Grant: oauth2.GrantJWTBearer, JSON: true, SubjectAudience: "https://api.anthropic.com",
		Header: http.Header{"Anthropic-Beta": {"oauth-2025-04-20,oidc-federation-2026-04-01"}},
		Params: map[string]string{"federation_rule_id": "fdrl_FAKE1", "organization_id": "org_FAKE2", "workspace_id": "wrkspc_FAKE3"},
	})
	defer fake.Close()
	cfg := oauth2.AnthropicConfig(oauth2.AnthropicFederation{FederationRuleID: "fdrl_FAKE1", OrganizationID: "org_FAKE2", WorkspaceID: "wrkspc_FAKE3"})
	cfg.TokenURL = fake.TokenURL()
	src := &oauth2.GCPIdentity{Audience: "https://api.anthropic.com", Endpoint: meta.URL + "/computeMetadata/v1/instance/service-accounts/default/identity"}
	p, err := oauth2.JWTBearer(cfg, src, oauth2.WithClock(fc))
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Fetch(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	checkVersion(t, fake, v, t0, 30*time.Minute)
	if got := fake.Subjects(); len(got) != 1 || got[0] != "112233445566778899000" {
		t.Fatalf("subjects presented = %v", got)
	}
	// The metadata server refuses a request without its header, and an
	// audience is required: both are checked by the fake, so a wrong
	// request would have failed above. A wrong endpoint is ErrNotFound.
	bad := &oauth2.GCPIdentity{Audience: "x", Endpoint: meta.URL + "/nope"}
	if _, err := bad.Value(context.Background()); !errors.Is(err, credential.ErrNotFound) {
		t.Fatalf("wrong path: %v", err)
	}
}

// RFC 8693 (form-encoded) with an Azure managed-identity token.
func TestTokenExchangeAzure(t *testing.T) {
	fc := fakeclock.New(t0)
	imds := oauthfake.AzureIMDS(fc, "00000000-aaaa-bbbb-cccc-FAKEFAKEFAKE")
	defer imds.Close()
	fake := oauthfake.New(fc, 10*time.Minute, oauthfake.Expect{
		Grant: oauth2.GrantTokenExchange, SubjectTokenType: oauth2.TokenTypeJWT, SubjectAudience: "api://credkit-federation",
		Audience: "https://llm-gateway.example.com", ClientID: "gateway-client",
	})
	defer fake.Close()
	src := &oauth2.AzureManagedIdentity{Resource: "api://credkit-federation", Endpoint: imds.URL + "/metadata/identity/oauth2/token"}
	p, err := oauth2.TokenExchange(oauth2.Config{TokenURL: fake.TokenURL(), ClientID: "gateway-client", AuthStyle: xoauth2.AuthStyleInParams, Audience: "https://llm-gateway.example.com"}, src, oauth2.WithClock(fc))
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Fetch(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	checkVersion(t, fake, v, t0, 10*time.Minute)
	if got := fake.Subjects(); len(got) != 1 || got[0] != "00000000-aaaa-bbbb-cccc-FAKEFAKEFAKE" {
		t.Fatalf("subjects presented = %v", got)
	}
}

// Any x/oauth2 TokenSource: here the library's own client-credentials
// source, against the fake.
func TestFromTokenSource(t *testing.T) {
	fake := oauthfake.New(nil, time.Hour, oauthfake.Expect{Grant: "client_credentials", ClientID: "svc", ClientSecret: fakeSecret})
	defer fake.Close()
	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: fakeSecret, TokenURL: fake.TokenURL(), AuthStyle: xoauth2.AuthStyleInHeader}
	p := oauth2.FromTokenSource(cc.TokenSource(context.Background()), fake.TokenURL())
	before := time.Now()
	v, err := p.Fetch(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if !fake.Valid(v.Secret.Reveal(), time.Now()) {
		t.Fatal("not a token of the endpoint")
	}
	if v.Expires.Before(before.Add(59*time.Minute)) || v.Expires.After(time.Now().Add(time.Hour)) {
		t.Fatalf("Expires %v is not the token's expiry", v.Expires)
	}
	d, _ := p.Describe(context.Background(), "")
	if d.Issuer != fake.TokenURL() {
		t.Fatalf("issuer = %q", d.Issuer)
	}
	failing := oauth2.FromTokenSource(xoauth2.TokenSource(tokenSourceFunc(func() (*xoauth2.Token, error) {
		return nil, &xoauth2.RetrieveError{Response: &http.Response{StatusCode: 400}, ErrorCode: "invalid_grant", ErrorDescription: fakeSecret}
	})), "")
	_, err = failing.Fetch(context.Background(), "")
	if !errors.Is(err, credential.ErrPermission) || strings.Contains(err.Error(), "FAKE") {
		t.Fatalf("err = %v", err)
	}
}

type tokenSourceFunc func() (*xoauth2.Token, error)

func (f tokenSourceFunc) Token() (*xoauth2.Token, error) { return f() }

// The subject token file is re-read when it is swapped, and only then.
func TestFileRereadsWhenChanged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	a, b := k8sToken("sa-a", "aud", t0.Add(time.Hour)), k8sToken("sa-b", "aud", t0.Add(time.Hour))
	writeToken(t, path, a)
	f := oauth2.NewFile(path)
	for i := 0; i < 2; i++ {
		if v, err := f.Value(context.Background()); err != nil || v.Reveal() != a {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	// The kubelet's swap: a new folder and the ..data symlink moved.
	data := filepath.Join(dir, "..2026_11_25")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	writeToken(t, filepath.Join(data, "token"), b)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(data, "token"), link); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link, path); err != nil {
		t.Fatal(err)
	}
	if v, err := f.Value(context.Background()); err != nil || v.Reveal() != b {
		t.Fatalf("after the swap: %v", err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Value(context.Background()); !errors.Is(err, credential.ErrInvalid) {
		t.Fatalf("empty file: %v", err)
	}
	if _, err := oauth2.NewFile(filepath.Join(dir, "missing")).Value(context.Background()); !errors.Is(err, credential.ErrNotFound) {
		t.Fatalf("missing file: %v", err)
	}
}

// Token endpoint failures map to credkit's kinds, and no error holds the
// token, the secret or the subject token, even when the endpoint echoes
// them.
func TestErrors(t *testing.T) {
	subject := k8sToken("sa", openaiAud, t0.Add(time.Hour))
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, path, subject)
	fc := fakeclock.New(t0)
	fake := oauthfake.New(fc, time.Hour, oauthfake.Expect{Grant: oauth2.GrantTokenExchange, ClientID: "svc", ClientSecret: fakeSecret})
	defer fake.Close()
	newP := func(url string, json bool) *oauth2.Provider {
		p, err := oauth2.TokenExchange(oauth2.Config{TokenURL: url, ClientID: "svc", ClientSecret: oauth2.Static(credential.NewSecret(fakeSecret)), JSON: json}, oauth2.NewFile(path), oauth2.WithClock(fc))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaks := func(err error) bool {
		s := err.Error()
		return strings.Contains(s, fakeSecret) || strings.Contains(s, subject[:20]) || strings.Contains(s, "FAKESIG") || strings.Contains(s, "fake-access-token")
	}
	for _, json := range []bool{false, true} {
		p := newP(fake.TokenURL(), json)
		fake.Refuse("invalid_grant")
		n := fake.Requests()
		_, err := p.Fetch(context.Background(), "")
		if !errors.Is(err, credential.ErrPermission) || leaks(err) {
			t.Fatalf("json=%v invalid_grant: %v", json, err)
		}
		if fake.Requests() != n+1 {
			t.Fatalf("json=%v: invalid_grant was retried (%d requests)", json, fake.Requests()-n)
		}
		if !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("the error does not name the OAuth error code: %v", err)
		}
		fake.Refuse("")
		fake.SetDown(true)
		if _, err := p.Fetch(context.Background(), ""); !errors.Is(err, credential.ErrUnavailable) || leaks(err) {
			t.Fatalf("json=%v 503: %v", json, err)
		}
		fake.SetDown(false)
	}
	// A wrong client secret: invalid_client.
	p, _ := oauth2.TokenExchange(oauth2.Config{TokenURL: fake.TokenURL(), ClientID: "svc", ClientSecret: oauth2.Static(credential.NewSecret("ckt-wrong-FAKEFAKE"))}, oauth2.NewFile(path), oauth2.WithClock(fc))
	if _, err := p.Fetch(context.Background(), ""); !errors.Is(err, credential.ErrPermission) {
		t.Fatalf("invalid_client: %v", err)
	}
	// A redirect is not followed: the subject token goes only to the
	// token endpoint.
	var stolen sync.Map
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Store("hit", true)
	}))
	defer thief.Close()
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, thief.URL, http.StatusTemporaryRedirect)
	}))
	defer redir.Close()
	for _, json := range []bool{false, true} {
		if _, err := newP(redir.URL, json).Fetch(context.Background(), ""); !errors.Is(err, credential.ErrInvalid) || leaks(err) {
			t.Fatalf("redirect json=%v: %v", json, err)
		}
	}
	if _, hit := stolen.Load("hit"); hit {
		t.Fatal("a redirect was followed")
	}
	// The endpoint unreachable.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	if _, err := newP(gone.URL, false).Fetch(context.Background(), ""); !errors.Is(err, credential.ErrUnavailable) || leaks(err) {
		t.Fatalf("unreachable: %v", err)
	}
	// The subject file missing: its kind, before any request.
	n := fake.Requests()
	if _, err := oauth2.TokenExchange(oauth2.Config{TokenURL: fake.TokenURL()}, oauth2.NewFile(path+".missing")); err != nil {
		t.Fatal(err)
	}
	p, _ = oauth2.TokenExchange(oauth2.Config{TokenURL: fake.TokenURL()}, oauth2.NewFile(path+".missing"))
	if _, err := p.Fetch(context.Background(), ""); !errors.Is(err, credential.ErrNotFound) || fake.Requests() != n {
		t.Fatalf("missing subject: %v", err)
	}
	// A canceled context is returned as it is.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newP(fake.TokenURL(), false).Fetch(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	src := oauth2.Static(credential.NewSecret("x"))
	for name, f := range map[string]func() error{
		"http to a remote host": func() error {
			_, err := oauth2.ClientCredentials(oauth2.Config{TokenURL: "http://login.example.com/token", ClientID: "a"})
			return err
		},
		"user info": func() error {
			_, err := oauth2.ClientCredentials(oauth2.Config{TokenURL: "https://a:b@login.example.com/token", ClientID: "a"})
			return err
		},
		"reserved param": func() error {
			_, err := oauth2.TokenExchange(oauth2.Config{TokenURL: "https://login.example.com/token", Params: map[string]string{"subject_token": "x"}}, src)
			return err
		},
		"no subject": func() error {
			_, err := oauth2.TokenExchange(oauth2.Config{TokenURL: "https://login.example.com/token"}, nil)
			return err
		},
		"no client id": func() error {
			_, err := oauth2.ClientCredentials(oauth2.Config{TokenURL: "https://login.example.com/token"})
			return err
		},
	} {
		if err := f(); !errors.Is(err, credential.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Concurrent fetches share one request to the endpoint.
func TestSingleFlight(t *testing.T) {
	fake := oauthfake.New(nil, time.Hour, oauthfake.Expect{Grant: "client_credentials", ClientID: "svc"})
	defer fake.Close()
	p, _ := oauth2.ClientCredentials(oauth2.Config{TokenURL: fake.TokenURL(), ClientID: "svc"})
	entered, release := fake.Hold()
	const n = 8
	var wg sync.WaitGroup
	vs := make([]credential.Version, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs[i], errs[i] = p.Fetch(context.Background(), "")
		}()
	}
	<-entered
	// Regression (1 run in 20 failed): a goroutine not yet scheduled when
	// the request was released made a second one. Wait until every other
	// caller has joined the flight.
	for deadline := time.Now().Add(5 * time.Second); oauth2.Waiting(p) < n-1; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d callers joined the request in flight", oauth2.Waiting(p), n-1)
		}
	}
	// A canceled waiter leaves at once, the shared request goes on.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Fetch(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled waiter: %v", err)
	}
	release()
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !vs[i].Secret.Equal(vs[0].Secret) {
			t.Fatalf("fetch %d: %v", i, errs[i])
		}
	}
	if got := fake.Requests(); got != 1 {
		t.Fatalf("%d concurrent fetches made %d requests, want 1", n, got)
	}
}

// The Provider's own timeout is ErrUnavailable; the caller's deadline is
// returned as it is.
func TestTimeout(t *testing.T) {
	fake := oauthfake.New(nil, time.Hour, oauthfake.Expect{Grant: "client_credentials", ClientID: "svc"})
	defer fake.Close()
	_, release := fake.Hold()
	defer release()
	p, _ := oauth2.ClientCredentials(oauth2.Config{TokenURL: fake.TokenURL(), ClientID: "svc"}, oauth2.WithTimeout(50*time.Millisecond))
	if _, err := p.Fetch(context.Background(), ""); !errors.Is(err, credential.ErrUnavailable) {
		t.Fatalf("own timeout: %v", err)
	}
	p, _ = oauth2.ClientCredentials(oauth2.Config{TokenURL: fake.TokenURL(), ClientID: "svc"}, oauth2.WithTimeout(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Fetch(ctx, ""); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, credential.ErrUnavailable) {
		t.Fatalf("caller's deadline: %v", err)
	}
}
