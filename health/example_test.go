package health_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/credkit/credkit/health"
)

func ExampleNewHandler() {
	monitor := health.NewMonitor([]health.Check{
		health.Func("openai", true, func(context.Context) health.Result { return health.Passed("key accepted") }),
		health.Func("pinecone", false, func(context.Context) health.Result { return health.Warned("rate limited") }),
	})
	defer monitor.Close()
	for !monitor.Ready() {
		time.Sleep(time.Millisecond)
	}

	// Three lines on the service's existing mux.
	mux := http.NewServeMux()
	h := health.NewHandler(monitor)
	mux.Handle("/livez", h)
	mux.Handle("/readyz", h)

	srv := httptest.NewServer(mux) // no token: the bare status, even from loopback
	defer srv.Close()
	resp, _ := http.Get(srv.URL + "/readyz")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", resp.Header.Get("Content-Type"), " ", string(body))
	// Output: 200 application/health+json {"status":"warn"}
}

func ExampleHTTPCheck() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized) // the key was revoked
	}))
	defer api.Close()
	check := health.HTTPCheck("openai", api.URL+"/v1/models", api.Client(), true)
	r := check.Run(context.Background())
	fmt.Println(check.Name, r.Status, r.Output)
	// Output: openai:responseTime fail credential rejected
}

func ExampleAudit() {
	audit := health.NewAudit(nil)
	// Plug it into a transport: &credential.Transport{Credential: c, Observe: audit.Observe}
	ctx := health.WithSource(context.Background(), "job:nightly-embed")
	fmt.Println(health.Source(ctx), audit.Counts())
	// Output: job:nightly-embed map[]
}
