package health_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
)

// BenchmarkReadyz serves /readyz from 50 cached checks.
func BenchmarkReadyz(b *testing.B) {
	var checks []health.Check
	for i := 0; i < 50; i++ {
		checks = append(checks, health.Check{Name: fmt.Sprint("c", i), Component: fmt.Sprint("dep", i), Measurement: "credential",
			Critical: true, Interval: time.Hour, Run: func(context.Context) health.Result { return health.Passed("ok") }})
	}
	m := health.NewMonitor(checks)
	defer m.Close()
	for {
		if m.Ready() {
			break
		}
		time.Sleep(time.Millisecond)
	}
	h := health.NewHandler(m)
	for _, target := range []string{"/readyz", "/readyz?verbose"} {
		b.Run(target, func(b *testing.B) {
			req := httptest.NewRequest("GET", target, nil)
			req.RemoteAddr = "127.0.0.1:1"
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

// BenchmarkAudit measures the audit's cost on a credential.Transport round
// trip to a loopback server: without audit, and with it (per-use counters,
// anomaly tracking and the no-op OpenTelemetry export; no log), in one run.
func BenchmarkAudit(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	cred := credential.NewStatic("openai", credential.NewSecret(fakeKey), credential.Metadata{})
	run := func(b *testing.B, observe func(credential.Use)) {
		base := &http.Transport{}
		defer base.CloseIdleConnections()
		client := &http.Client{Transport: &credential.Transport{Credential: cred, Base: base, Observe: observe}}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			resp, err := client.Get(srv.URL + "/v1/models")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	b.Run("without-audit", func(b *testing.B) { run(b, nil) })
	b.Run("with-audit", func(b *testing.B) { run(b, health.NewAudit(nil).Observe) })
}
