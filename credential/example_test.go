package credential_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/credkit/credkit/credential"
)

func ExampleSecret() {
	key := credential.NewSecret("sk-proj-FAKE0123456789abcdefFAKE0123456789abcdef")

	fmt.Println(key)
	fmt.Printf("%s %q %x %#v\n", key, key, key, key)
	b, _ := json.Marshal(map[string]any{"openai": key})
	fmt.Println(string(b))

	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	logger.Info("calling model", "key", key)

	// Fingerprints tell values apart without showing them.
	same := credential.NewSecret("sk-proj-FAKE0123456789abcdefFAKE0123456789abcdef")
	fmt.Println(key.Fingerprint() == same.Fingerprint(), key.Equal(same))
	// Output:
	// [REDACTED]
	// [REDACTED] [REDACTED] [REDACTED] [REDACTED]
	// {"openai":"[REDACTED]"}
	// level=INFO msg="calling model" key=[REDACTED]
	// true true
}

func ExampleTransport() {
	// A model API that wants "x-api-key" (as Anthropic's does).
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "key received")
	}))
	defer api.Close()

	key := credential.NewStatic("anthropic", credential.NewSecret("sk-ant-api03-FAKEFAKEFAKEFAKEFAKEFAKE-FAKEFAKEAA"), credential.Metadata{})
	// Hand this client to the SDK: option.WithHTTPClient(client).
	client := &http.Client{Transport: &credential.Transport{
		Credential: key,
		Inject:     credential.Header("x-api-key"),
	}}
	resp, err := client.Get(api.URL + "/v1/models")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 key received
}

func ExampleError() {
	err := &credential.Error{
		Op: "fetch", Name: "openai", Ref: "https://vault.example/v1/secret?token=hvs.FAKE",
		Kind: credential.ErrNotFound, Reason: `field "api_key" is missing`,
	}
	fmt.Println(err)
	fmt.Println(errors.Is(err, credential.ErrNotFound), credential.KindName(err))
	// Output:
	// credential openai: fetch https://vault.example/v1/secret?token=_: not found: field "api_key" is missing
	// true not_found
}

func ExampleMetadata_Validate() {
	md := credential.Metadata{Name: "openai", Owner: "ml-team", Environment: "production", Scopes: []string{"admin"}}
	fmt.Println(md.Validate())
	// Output: credential openai: invalid metadata: no purpose, no system, broad scope "admin", no rotation period
}
