package provider_test

import (
	"context"
	"testing"

	"github.com/credkit/credkit/provider"
)

func BenchmarkResolve(b *testing.B) {
	m := provider.NewURLMux()
	ctx := context.Background()
	for name, raw := range map[string]string{"env": "env://OPENAI_API_KEY", "file": "file:///run/secrets/keys.json#openai?format=json"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := m.Resolve(ctx, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
