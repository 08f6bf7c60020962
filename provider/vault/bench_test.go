package vault_test

import (
	"context"
	"testing"
	"time"

	"github.com/credkit/credkit/internal/vaultfake"
	"github.com/credkit/credkit/provider/vault"
)

// BenchmarkFetchKV2 is one Fetch of a KV v2 field over HTTP to the
// in-process fake; BenchmarkClientReadKV2 is the same read with Vault's
// client alone (Logical().Read and a type assertion), the floor credkit
// adds its parsing and checks to.
func BenchmarkFetchKV2(b *testing.B) {
	fake := vaultfake.New(nil)
	defer fake.Close()
	fake.Put("secret", "prod/openai", map[string]any{"api_key": key})
	p := vault.New(fake.Client(fake.RootToken()))
	defer p.Close()
	ctx := context.Background()
	if _, err := p.Fetch(ctx, "secret/prod/openai#api_key"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Fetch(ctx, "secret/prod/openai#api_key"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClientReadKV2(b *testing.B) {
	fake := vaultfake.New(nil)
	defer fake.Close()
	fake.Put("secret", "prod/openai", map[string]any{"api_key": key})
	c := fake.Client(fake.RootToken())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := c.Logical().Read("secret/data/prod/openai")
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := s.Data["data"].(map[string]any)["api_key"].(string); !ok {
			b.Fatal("no field")
		}
	}
}

// BenchmarkFetchLeased is a Fetch of a dynamic secret's field while its
// lease is live: served from the shared lease, no request.
func BenchmarkFetchLeased(b *testing.B) {
	fake := vaultfake.New(nil)
	defer fake.Close()
	fake.DBRole("readonly", vaultfake.DBRole{DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour})
	p := vault.New(fake.Client(fake.RootToken()))
	defer p.Close()
	ctx := context.Background()
	if _, err := p.Fetch(ctx, "database/creds/readonly#password"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Fetch(ctx, "database/creds/readonly#password"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n := fake.Calls("GET database/creds/readonly"); n != 1 {
		b.Fatalf("%d secrets read, want 1", n)
	}
}

// BenchmarkFetchKV1 is one Fetch of a KV v1 secret, whose version ID is
// credential.ContentID of the value.
func BenchmarkFetchKV1(b *testing.B) {
	fake := vaultfake.New(nil)
	defer fake.Close()
	fake.Put("kv", "prod/openai", map[string]any{"api_key": key})
	p := vault.New(fake.Client(fake.RootToken()))
	defer p.Close()
	ctx := context.Background()
	if _, err := p.Fetch(ctx, "kv/prod/openai#api_key"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Fetch(ctx, "kv/prod/openai#api_key"); err != nil {
			b.Fatal(err)
		}
	}
}
