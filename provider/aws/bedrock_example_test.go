package aws_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/aws"
	"github.com/credkit/credkit/rotate"
)

// Bedrock short-term API keys from the default credential chain, kept fresh
// by rotate and sent as a bearer token by credential.Transport.
func ExampleBedrockKeys() {
	// Fixed fake credentials stand in for the default chain; in production,
	// aws.NewBedrockOpener() loads it (environment, SSO, web identity, roles).
	creds := credentials.NewStaticCredentialsProvider("AKIAFAKEFAKEFAKE0000", "FAKEsecretFAKEsecretFAKEsecretFAKEsecret", "")
	mux := provider.NewURLMux()
	mux.Register("bedrock-key", aws.NewBedrockOpener(aws.WithBedrockCredentials(creds)))

	ctx := context.Background()
	p, ref, err := mux.Resolve(ctx, "bedrock-key://us-east-1?expires=1h")
	if err != nil {
		panic(err)
	}
	key, err := rotate.Watch(ctx, "bedrock", p, ref) // refreshed at 80% of its hour
	if err != nil {
		panic(err)
	}
	defer key.Close()

	// A stand-in for https://bedrock-runtime.us-east-1.amazonaws.com.
	runtime := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("runtime got a bearer Bedrock key:", strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "+aws.BedrockKeyPrefix))
	}))
	defer runtime.Close()
	client := &http.Client{Transport: &credential.Transport{Credential: key}} // Authorization: Bearer
	resp, err := client.Post(runtime.URL+"/model/amazon.nova-lite-v1:0/converse", "application/json", strings.NewReader(`{}`))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()

	v, _ := key.Version()
	fmt.Println(v.Secret, v.Expires.Sub(v.Created).Round(time.Minute))
	// Output:
	// runtime got a bearer Bedrock key: true
	// [REDACTED] 1h0m0s
}
