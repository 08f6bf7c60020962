package gcpfake_test

import (
	"context"
	"fmt"

	smpb "cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"

	"github.com/credkit/credkit/internal/gcpfake"
)

func Example() {
	ctx := context.Background()
	fake := gcpfake.New()
	defer fake.Close()
	c, _ := fake.Client(ctx) // the real SDK client, over gRPC to the fake
	defer c.Close()
	c.CreateSecret(ctx, &smpb.CreateSecretRequest{Parent: "projects/p", SecretId: "openai", Secret: &smpb.Secret{}})
	c.AddSecretVersion(ctx, &smpb.AddSecretVersionRequest{Parent: "projects/p/secrets/openai", Payload: &smpb.SecretPayload{Data: []byte("sk-FAKE")}})
	r, _ := c.AccessSecretVersion(ctx, &smpb.AccessSecretVersionRequest{Name: "projects/p/secrets/openai/versions/latest"})
	fmt.Println(r.Name, fake.Calls("AccessSecretVersion"))
	// Output: projects/p/secrets/openai/versions/1 1
}
