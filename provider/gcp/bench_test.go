package gcp_test

import (
	"context"
	"testing"

	"github.com/credkit/credkit/provider/gcp"
)

// BenchmarkFetch measures one Fetch through the real SDK client over gRPC
// on loopback to the fake: the cost of a poll of one secret, minus the
// network.
func BenchmarkFetch(b *testing.B) {
	e := setup(b)
	e.create(b, secretName("plain"), key)
	e.create(b, secretName("json"), `{"api_key":"`+key+`","org":"org-FAKE"}`)
	e.create(b, secretName("rollback"), key)
	e.add(b, secretName("rollback"), key+"-2")
	e.disable(b, secretName("rollback"), "2")
	p := gcp.New(e.c)
	ctx := context.Background()
	for _, bc := range []struct{ name, ref string }{
		{"latest", secretName("plain")},
		{"field", secretName("json") + "#api_key"},
		{"alias-or-number", secretName("plain") + "/versions/1"},
		// Two accesses: latest fails, the remembered enabled one is read.
		{"disabled-latest", secretName("rollback")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Fetch(ctx, bc.ref); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
