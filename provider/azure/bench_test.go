package azure_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/credkit/credkit/internal/azurefake"
	"github.com/credkit/credkit/provider/azure"
)

// BenchmarkFetch is one Fetch of a JSON field, through the real azsecrets
// client over TLS to the in-process fake (the network round trip to a
// real vault, 5–50 ms, dominates in production). The request budget is
// lifted: at its default (1,000 per 10 s) a loop of fetches is held to
// 100 a second, by design.
func BenchmarkFetch(b *testing.B) {
	fake := azurefake.New()
	defer fake.Close()
	c := fake.Client(-1)
	ctx := context.Background()
	p := azure.New(c, azure.WithRequestLimits(8, 1<<20))
	for _, name := range []string{"openai"} {
		put(&testing.T{}, c, name, `{"api_key":"`+key+`"}`, nil, nil)
	}
	b.Run("field", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.Fetch(ctx, "openai#api_key"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.Fetch(ctx, "openai#api_key"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkCurrentVersions100 is the vault-wide check of 100 unchanged
// secrets: 4 listing pages.
func BenchmarkCurrentVersions100(b *testing.B) {
	fake := azurefake.New()
	defer fake.Close()
	c := fake.Client(-1)
	ctx := context.Background()
	p := azure.New(c, azure.WithRequestLimits(8, 1<<20))
	var refs []string
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("svc-%03d", i)
		put(&testing.T{}, c, name, `{"api_key":"`+key+`"}`, nil, nil)
		refs = append(refs, name+"#api_key")
		if _, err := p.Fetch(ctx, name); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.CurrentVersions(ctx, refs); err != nil {
			b.Fatal(err)
		}
	}
}
