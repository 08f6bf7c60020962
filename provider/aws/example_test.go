package aws_test

import (
	"context"
	"fmt"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/credkit/credkit/internal/awsfake"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/aws"
)

func Example() {
	// An in-process Secrets Manager stands in for AWS; in production,
	// aws.NewOpener() loads the default config chain instead.
	fake := awsfake.New()
	defer fake.Close()
	client := fake.Client(0)
	ctx := context.Background()
	client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         sdkaws.String("prod/openai"),
		SecretString: sdkaws.String(`{"api_key":"sk-proj-FAKE0000000000000000000000000000"}`),
	})

	mux := provider.NewURLMux()
	mux.Register("aws-sm", aws.NewOpener(aws.WithClient(client)))
	p, ref, err := mux.Resolve(ctx, "aws-sm://prod/openai#api_key?region=eu-west-1")
	if err != nil {
		panic(err)
	}
	v, err := p.Fetch(ctx, ref)
	if err != nil {
		panic(err)
	}
	fmt.Println(ref, v.Secret, len(v.ID) > 0)
	// Output: prod/openai#api_key [REDACTED] true
}
