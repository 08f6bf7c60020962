package aws_test

import (
	"context"
	"testing"

	"github.com/credkit/credkit/provider/aws"
)

// Signing a Bedrock short-term key: local SigV4 presigning, no I/O.
func BenchmarkBedrockKey(b *testing.B) {
	k := aws.NewBedrockKeys(static(fakeCreds))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Fetch(ctx, "us-east-1"); err != nil {
			b.Fatal(err)
		}
	}
}
