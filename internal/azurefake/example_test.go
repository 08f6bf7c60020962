package azurefake_test

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/credkit/credkit/internal/azurefake"
)

func Example() {
	fake := azurefake.New()
	defer fake.Close()
	client := fake.Client(0) // the real azsecrets client, over TLS
	ctx := context.Background()
	client.SetSecret(ctx, "openai", azsecrets.SetSecretParameters{Value: to.Ptr("sk-proj-FAKE0000000000000000000000000000")}, nil)
	fake.SetFault(azurefake.OpGet, &azurefake.Fault{Status: 429, RetryAfter: 10, Times: 1})
	_, err := fake.Client(-1).GetSecret(ctx, "openai", "", nil)
	fmt.Println(err != nil, fake.Calls(azurefake.OpGet), fake.Calls(azurefake.OpChallenge))
	// Output: true 1 2
}
