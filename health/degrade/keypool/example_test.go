package keypool_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/keypool"
)

// Two keys share the traffic; a revoked one is quarantined across requests
// and reported, without its value ever being printed.
func ExamplePool() {
	const revoked = "sk-proj-FAKE0000000000000000000000000000"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+revoked {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	pool, _ := keypool.New("openai", []credential.Credential{
		credential.NewStatic("openai-a", credential.NewSecret(revoked), credential.Metadata{}),
		credential.NewStatic("openai-b", credential.NewSecret("sk-proj-FAKE1111111111111111111111111111"), credential.Metadata{}),
	})
	policy := degrade.NewPolicy("openai")
	client := &http.Client{Transport: degrade.NewRoundTripper(keypool.NewTransport(nil, pool, credential.Bearer()), policy)}

	for i := 0; i < 3; i++ {
		resp, err := client.Get(srv.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	for _, k := range pool.Keys() {
		fmt.Println(k.Name, k.Status, k.Uses)
	}
	// Output:
	// 200
	// 200
	// 200
	// openai-a quarantined 1
	// openai-b ready 3
}

// A key whose rate-limit headers say its budget is spent cools until the
// reset: the next request goes to the other key, before a 429.
func ExampleTransport_rateLimitHeaders() {
	const spent = "sk-proj-FAKE0000000000000000000000000000"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+spent {
			w.Header().Set("X-Ratelimit-Remaining-Requests", "0")
			w.Header().Set("X-Ratelimit-Reset-Requests", "20s")
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	pool, _ := keypool.New("openai", []credential.Credential{
		credential.NewStatic("openai-a", credential.NewSecret(spent), credential.Metadata{}),
		credential.NewStatic("openai-b", credential.NewSecret("sk-proj-FAKE1111111111111111111111111111"), credential.Metadata{}),
	})
	client := &http.Client{Transport: keypool.NewTransport(nil, pool, nil)}
	for i := 0; i < 4; i++ {
		resp, _ := client.Get(srv.URL)
		resp.Body.Close()
	}
	for _, k := range pool.Keys() {
		fmt.Println(k.Name, k.Status, k.Uses)
	}
	// Output:
	// openai-a cooling 1
	// openai-b ready 3
}

// A pool's keys become health checks: a revoked key of several shows on
// the health endpoint without failing readiness.
func ExamplePool_Checks() {
	pool, _ := keypool.New("openai", []credential.Credential{
		credential.NewStatic("openai-a", credential.NewSecret("sk-proj-FAKE0000000000000000000000000000"), credential.Metadata{}),
		credential.NewStatic("openai-b", credential.NewSecret("sk-proj-FAKE1111111111111111111111111111"), credential.Metadata{}),
	})
	for _, c := range pool.Checks(degrade.Shared) {
		r := c.Run(context.Background())
		fmt.Println(c.Name, c.Critical, r.Status)
	}
	// Output:
	// openai:keys false pass
	// openai-a:credential false pass
	// openai-b:credential false pass
}
