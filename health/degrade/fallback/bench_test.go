package fallback_test

import (
	"context"
	"testing"

	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/fallback"
)

// BenchmarkEmbeddingsCacheHit is a read-through hit: no call, no policy.
func BenchmarkEmbeddingsCacheHit(b *testing.B) {
	f := &fakeEmbedder{dim: 1536}
	e := fallback.NewEmbeddings(degrade.NewPolicy("embeddings"), f.embed)
	ctx := context.Background()
	in := []string{"how do I rotate my API key?"}
	if _, err := e.Embed(ctx, "text-embedding-3-small", in); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := e.Embed(ctx, "text-embedding-3-small", in)
		if err != nil || r.Marker != degrade.Cached {
			b.Fatal("not a hit")
		}
	}
}
