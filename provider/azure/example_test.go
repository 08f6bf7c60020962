package azure_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/internal/azurefake"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/azure"
	"github.com/credkit/credkit/rotate"
)

func Example() {
	// An in-process Key Vault stands in for Azure; in production,
	// azure.NewOpener() authenticates with DefaultAzureCredential and the
	// URL names the vault: azure-kv://my-vault/openai#api_key.
	fake := azurefake.New()
	defer fake.Close()
	ctx := context.Background()
	fake.Client(0).SetSecret(ctx, "openai", azsecrets.SetSecretParameters{
		Value: to.Ptr(`{"api_key":"sk-proj-FAKE0000000000000000000000000000"}`),
	}, nil)
	vault, _ := url.Parse(fake.URL)

	mux := provider.NewURLMux()
	mux.Register("azure-kv", azure.NewOpener(
		azure.WithCredential(fake.Credential()),
		azure.WithClientOptions(fake.ClientOptions(0)),
	))
	p, ref, err := mux.Resolve(ctx, "azure-kv://"+vault.Host+"/openai#api_key")
	if err != nil {
		panic(err)
	}
	v, err := p.Fetch(ctx, ref)
	if err != nil {
		panic(err)
	}
	fmt.Println(ref, v.Secret, len(v.ID))
	// Output: openai#api_key [REDACTED] 32
}

// A service mounts the Event Grid handler on its mux. Event Grid first
// validates the subscription, then delivers Key Vault's events; each
// reaches the credentials watching that secret (a rotate.Set registers
// itself through credential.Notifier).
func ExampleNewEventHandler() {
	fake := azurefake.New()
	defer fake.Close()
	p := azure.New(fake.Client(0))
	stop, _ := p.NotifyChange("openai#api_key", func() { fmt.Println("openai changed") })
	defer stop()

	hookSecret := credential.NewStatic("eventgrid-hook", credential.NewSecret("FAKE-hook-secret-0000000000"), credential.Metadata{})
	mux := http.NewServeMux()
	mux.Handle("/hooks/keyvault", azure.NewEventHandler(hookSecret, p))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	send := func(kind, body string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/keyvault?code=FAKE-hook-secret-0000000000", strings.NewReader(body))
		req.Header.Set("aeg-event-type", kind)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(b)))
	}
	send("SubscriptionValidation", `[{"id":"1","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent",
		"data":{"validationCode":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}}]`)
	send("Notification", `[{"id":"2","eventType":"Microsoft.KeyVault.SecretNewVersionCreated","subject":"openai",
		"data":{"VaultName":"fakevault","ObjectType":"Secret","ObjectName":"openai","Version":"0f5e3b1c9d8a4e7f8b6a5c4d3e2f1a0b"}}]`)
	// Output:
	// 200 {"validationResponse":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
	// openai changed
	// 200
}

// The secrets Key Vault reports as nearing their expiry feed a health
// check that warns until they are replaced.
func ExampleEventHandler_NearExpiry() {
	fake := azurefake.New()
	defer fake.Close()
	hookSecret := credential.NewStatic("eventgrid-hook", credential.NewSecret("FAKE-hook-secret-0000000000"), credential.Metadata{})
	h := azure.NewEventHandler(hookSecret, azure.New(fake.Client(0)))

	check := health.Func("keyvault:near-expiry", false, func(context.Context) health.Result {
		var names []string
		for _, n := range h.NearExpiry() {
			names = append(names, n.Name+" expires "+n.Expires.Format(time.DateOnly))
		}
		if len(names) > 0 {
			return health.Warned(strings.Join(names, "; "))
		}
		return health.Passed("no secret near its expiry")
	})
	fmt.Println(check.Run(context.Background()).Output)

	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"?code=FAKE-hook-secret-0000000000", "application/json", strings.NewReader(
		`[{"id":"3","eventType":"Microsoft.KeyVault.SecretNearExpiry","subject":"openai",
		"data":{"VaultName":"fakevault","ObjectType":"Secret","ObjectName":"openai","EXP":4102444800}}]`))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	r := check.Run(context.Background())
	fmt.Println(r.Status, r.Output)
	// Output:
	// no secret near its expiry
	// warn openai expires 2100-01-01
}

// staticToken stands in for DefaultAzureCredential in the example.
type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "eyJ0eXAiOiJKV1QiFAKE.FAKE.FAKE", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Azure OpenAI takes Entra ID tokens: a TokenProvider mints them, rotate
// keeps one current (refreshed ahead of its expiry, never served expired),
// and credential.Transport sends it as a bearer token.
func ExampleNewTokenProvider() {
	aoai := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer eyJ") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "chat completion")
	}))
	defer aoai.Close()

	// In production: azure.NewTokenProvider(cred) with cred from
	// azidentity.NewDefaultAzureCredential, or the URL
	// azure-token://?scope=https://cognitiveservices.azure.com/.default.
	tokens := azure.NewTokenProvider(staticToken{})
	ctx := context.Background()
	tok, err := rotate.Watch(ctx, "azure-openai", tokens, azure.CognitiveServicesScope,
		rotate.WithRefreshAhead(1, 4*time.Minute)) // azidentity renews its cached token 5 minutes before expiry
	if err != nil {
		panic(err)
	}
	defer tok.Close()

	client := &http.Client{Transport: &credential.Transport{Credential: tok, Inject: credential.Bearer()}}
	resp, err := client.Post(aoai.URL+"/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", "application/json", strings.NewReader(`{}`))
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	st := tok.Status()
	fmt.Println(resp.StatusCode, string(body), st.Freshness, st.Expires.After(time.Now()))
	// Output: 200 chat completion fresh true
}
