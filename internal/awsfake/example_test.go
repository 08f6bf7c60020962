package awsfake_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/credkit/credkit/internal/awsfake"
)

func Example() {
	fake := awsfake.New()
	defer fake.Close()
	c := fake.Client(1) // a real SDK client, signing its requests
	ctx := context.Background()
	c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("prod/openai"), SecretString: aws.String("FAKE-v1")})
	c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("prod/openai"), SecretString: aws.String("FAKE-v2")})

	prev, _ := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/openai"), VersionStage: aws.String("AWSPREVIOUS")})
	fmt.Println(aws.ToString(prev.SecretString), fake.Calls("PutSecretValue"))

	fake.SetFault("GetSecretValue", &awsfake.Fault{Code: "AccessDeniedException", Times: 1})
	_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/openai")})
	fmt.Println(err != nil)
	// Output:
	// FAKE-v1 1
	// true
}
