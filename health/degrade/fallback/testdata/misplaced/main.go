// Command misplaced gives the embeddings cache a policy's option: the
// regression of issue 16 (NewEmbeddings(…, WithMaxAttempts(1)) compiled and
// was ignored). It must not compile.
package main

import (
	"context"

	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/fallback"
)

func main() {
	embed := func(context.Context, string, []string) ([][]float32, error) { return nil, nil }
	_ = fallback.NewEmbeddings(degrade.NewPolicy("embeddings"), embed, degrade.WithMaxAttempts(1))
}
