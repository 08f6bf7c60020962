package env_test

import (
	"context"
	"testing"

	"github.com/credkit/credkit/provider/env"
)

func BenchmarkEnv(b *testing.B) {
	m := map[string]string{
		"OPENAI_API_KEY": "sk-proj-FAKE0000000000000000000000000000",
		"DATABASE":       `{"user":"app","password":"FAKE-db-password-0000"}`,
	}
	p := env.New(env.WithLookup(func(n string) (string, bool) { v, ok := m[n]; return v, ok }))
	ctx := context.Background()
	for _, ref := range []string{"OPENAI_API_KEY", "DATABASE#password"} {
		b.Run(ref, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Fetch(ctx, ref); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
