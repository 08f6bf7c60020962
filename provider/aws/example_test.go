package aws_test

import (
	"context"
	"fmt"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/credkit/credkit/internal/awsfake"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/aws"
	"github.com/credkit/credkit/rotate"
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

// ExampleEvents pushes Secrets Manager's change events to a credential
// through an SQS queue: the rotation arrives without waiting for a poll.
func ExampleEvents() {
	fake := awsfake.New() // Secrets Manager, SQS and the EventBridge rule, in process
	defer fake.Close()
	sm := fake.Client(0)
	ctx := context.Background()
	sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: sdkaws.String("prod/openai"), SecretString: sdkaws.String(`{"api_key":"sk-proj-FAKE0000000000000000000000000001"}`),
	})
	queue := fake.CreateQueue("credkit-replica-1") // one queue per replica
	fake.RouteEvents(queue, false)

	events := aws.NewEvents(fake.SQSClient(0), queue)
	defer events.Close()
	p := aws.New(sm).WithEvents(events)
	c, err := rotate.Watch(ctx, "openai", p, "prod/openai#api_key", rotate.WithInterval(time.Hour, 0))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	rotated := make(chan rotate.Event, 1)
	c.OnRotate(func(e rotate.Event) { rotated <- e })

	sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: sdkaws.String("prod/openai"), SecretString: sdkaws.String(`{"api_key":"sk-proj-FAKE0000000000000000000000000002"}`),
	})
	e := <-rotated // pushed: the hourly poll is far away
	fmt.Println(e.Kind, e.OldFingerprint != e.NewFingerprint)
	// Output: rotated true
}
