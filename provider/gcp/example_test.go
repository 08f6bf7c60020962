package gcp_test

import (
	"context"
	"fmt"

	pubsubpb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	smpb "cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"

	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/internal/gcpfake"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/gcp"
	"github.com/credkit/credkit/rotate"
)

// exampleSecret stands in for what an operator does with gcloud: create a
// secret (publishing to a topic when one is given) and add a version.
func exampleSecret(ctx context.Context, fake *gcpfake.Server, name, value, topic string) {
	c, _ := fake.Client(ctx)
	defer c.Close()
	s := &smpb.Secret{}
	if topic != "" {
		s.Topics = []*smpb.Topic{{Name: topic}}
	}
	c.CreateSecret(ctx, &smpb.CreateSecretRequest{Parent: "projects/my-project", SecretId: name, Secret: s})
	c.AddSecretVersion(ctx, &smpb.AddSecretVersionRequest{Parent: "projects/my-project/secrets/" + name, Payload: &smpb.SecretPayload{Data: []byte(value)}})
}

func Example() {
	// An in-process Secret Manager stands in for Google's; in production,
	// gcp.NewOpener() makes its clients with Application Default
	// Credentials.
	ctx := context.Background()
	fake := gcpfake.New()
	defer fake.Close()
	exampleSecret(ctx, fake, "openai", `{"api_key":"sk-proj-FAKE0000000000000000000000000000"}`, "")

	o := gcp.NewOpener(gcp.WithClientOptions(fake.ClientOptions()...))
	defer o.Close()
	mux := provider.NewURLMux()
	mux.Register("gcp-sm", o)
	p, ref, err := mux.Resolve(ctx, "gcp-sm://projects/my-project/secrets/openai#api_key")
	if err != nil {
		panic(err)
	}
	v, err := p.Fetch(ctx, ref)
	if err != nil {
		panic(err)
	}
	fmt.Println(ref, v.Secret, "version", v.ID)
	// Output: projects/my-project/secrets/openai#api_key [REDACTED] version 1
}

// A disabled latest version does not break the service: the newest enabled
// one is served, and a health check reports the condition.
func ExampleProvider_AllConditions() {
	ctx := context.Background()
	fake := gcpfake.New()
	defer fake.Close()
	exampleSecret(ctx, fake, "openai", "sk-proj-FAKE0000000000000000000000000001", "")
	c, _ := fake.Client(ctx)
	defer c.Close()
	c.AddSecretVersion(ctx, &smpb.AddSecretVersionRequest{Parent: "projects/my-project/secrets/openai", Payload: &smpb.SecretPayload{Data: []byte("sk-proj-FAKE0000000000000000000000000002")}})
	c.DisableSecretVersion(ctx, &smpb.DisableSecretVersionRequest{Name: "projects/my-project/secrets/openai/versions/2"})

	p := gcp.New(c)
	v, _ := p.Fetch(ctx, "projects/my-project/secrets/openai")
	fmt.Println("serving version", v.ID)

	check := health.Func("secret-manager", false, func(context.Context) health.Result {
		for _, c := range p.AllConditions() {
			return health.Warned(fmt.Sprintf("%s: latest version %s is %s, serving %s", c.Secret, c.Latest, c.LatestState, c.Served))
		}
		return health.Passed("")
	})
	r := check.Run(ctx)
	fmt.Println(r.Status, r.Output)
	// Output:
	// serving version 1
	// warn projects/my-project/secrets/openai: latest version 2 is DISABLED, serving 1
}

// Push through Pub/Sub: each replica receives from a subscription of its
// own, made by the Notifier and deleted on Close.
func ExampleNewNotifier() {
	ctx := context.Background()
	fake := gcpfake.New()
	defer fake.Close()
	const topic = "projects/my-project/topics/secret-events"
	ps, _ := fake.PubSubClient(ctx, "my-project")
	defer ps.Close()
	ps.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic})
	exampleSecret(ctx, fake, "openai", "sk-proj-FAKE0000000000000000000000000001", topic)

	n, err := gcp.NewNotifier(ctx, ps, gcp.WithTopic(topic, 0))
	if err != nil {
		panic(err)
	}
	defer n.Close()
	c, _ := fake.Client(ctx)
	defer c.Close()
	mux := provider.NewURLMux()
	mux.Register("gcp-sm", gcp.NewOpener(gcp.WithClient(c), gcp.WithPush(n)))
	// With push healthy, rotate polls only at its safety interval (15
	// minutes by default).
	set, err := rotate.Open(ctx, mux, []rotate.Config{{Name: "openai", URL: "gcp-sm://projects/my-project/secrets/openai"}})
	if err != nil {
		panic(err)
	}
	defer set.Close()
	rotated := make(chan rotate.Event, 1)
	set.OnEvent(func(e rotate.Event) {
		if e.Kind == rotate.EventRotated {
			rotated <- e
		}
	})

	c.AddSecretVersion(ctx, &smpb.AddSecretVersionRequest{Parent: "projects/my-project/secrets/openai", Payload: &smpb.SecretPayload{Data: []byte("sk-proj-FAKE0000000000000000000000000002")}})
	e := <-rotated
	fmt.Println(e.Name, "rotated from version", e.OldVersion, "to", e.NewVersion)
	// Output: openai rotated from version 1 to 2
}
