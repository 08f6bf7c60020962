package degrade_test

import (
	"context"
	"testing"

	"github.com/credkit/credkit/health/degrade"
)

// BenchmarkEmbeddingsCacheHit measures a read-through hit of one input: a
// SHA-256 of the input, one LRU lookup, the result slices.
func BenchmarkEmbeddingsCacheHit(b *testing.B) {
	f := &fakeEmbedder{dim: 1536}
	e := degrade.NewEmbeddings(f, degrade.NewPolicy("embeddings", degrade.WithLogger(quiet)), degrade.WithLogger(quiet))
	ctx := context.Background()
	in := []string{"How do I rotate an OpenAI API key without downtime?"}
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
