package bench

import (
	"context"
	"sync"
	"testing"

	"gocloud.dev/runtimevar"
	"gocloud.dev/runtimevar/constantvar"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/rotate"
)

const key = "sk-proj-FAKE0000000000000000000000000000"

type static struct{}

func (static) Fetch(context.Context, string) (credential.Version, error) {
	return credential.Version{Secret: credential.NewSecret(key), ID: "1"}, nil
}

// BenchmarkGet reads the current key of a watched credential three ways, in
// one run: credkit's rotate.Credential.Get, gocloud.dev runtimevar's
// Variable.Latest (constantvar), and a string behind a sync.RWMutex.
// Run with -cpu 1,2.
func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	b.Run("credkit-rotate.Get", func(b *testing.B) {
		c, err := rotate.Watch(ctx, "openai", static{}, "openai")
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Get(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("gocloud-runtimevar.Latest", func(b *testing.B) {
		v := constantvar.New(runtimevar.Snapshot{Value: key})
		defer v.Close()
		if _, err := v.Latest(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.Latest(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("RWMutex-string", func(b *testing.B) {
		var mu sync.RWMutex
		s := key
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.RLock()
				v := s
				mu.RUnlock()
				_ = v
			}
		})
	})
}
