package azurefake_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/credkit/credkit/internal/azurefake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// TestChallengeVersionsPagesAndFaults drives the fake with the real
// client: the 401 challenge once per client, the latest version with and
// without the trailing slash, pagination, faults and counters.
func TestChallengeVersionsPagesAndFaults(t *testing.T) {
	fake := azurefake.New()
	defer fake.Close()
	cred := fake.Credential()
	c, err := azsecrets.NewClient(fake.URL, cred, fake.ClientOptions(-1))
	require.NoError(t, err)
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		_, err := c.SetSecret(ctx, "s-"+string(rune('a'+i%26))+string(rune('a'+i/26)), azsecrets.SetSecretParameters{Value: to.Ptr("FAKE-value-0000")}, nil)
		require.NoError(t, err)
	}
	assert.Equal(t, 1, fake.Calls(azurefake.OpChallenge), "one challenge per client")
	assert.Equal(t, 1, cred.Calls(), "one token, cached by the SDK")

	res, err := c.GetSecret(ctx, "s-aa", "", nil) // GET /secrets/s-aa/
	require.NoError(t, err)
	assert.Len(t, res.ID.Version(), 32)
	byVersion, err := c.GetSecret(ctx, "s-aa", res.ID.Version(), nil)
	require.NoError(t, err)
	assert.Equal(t, *res.ID, *byVersion.ID)
	// Without the trailing slash, as azsecrets/fake v1.4.0's name quirk asks.
	req, _ := http.NewRequest(http.MethodGet, fake.URL+"/secrets/s-aa?api-version=7.6", nil)
	tok, _ := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{azurefake.Scope}})
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := fake.Server.Client().Do(req)
	require.NoError(t, err)
	var direct azsecrets.Secret
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&direct))
	resp.Body.Close()
	assert.Equal(t, *res.ID, *direct.ID)

	fake.ResetCalls()
	n := 0
	pg := c.NewListSecretPropertiesPager(nil)
	for pg.More() {
		page, err := pg.NextPage(ctx)
		require.NoError(t, err)
		for _, sp := range page.Value {
			assert.Empty(t, sp.ID.Version(), "the listing has no version IDs")
			n++
		}
	}
	assert.Equal(t, 30, n)
	assert.Equal(t, 2, fake.Calls(azurefake.OpList), "25 a page")

	fake.SetFault(azurefake.OpGet, &azurefake.Fault{Status: 429, RetryAfter: 7, Times: 1})
	_, err = c.GetSecret(ctx, "s-aa", "", nil)
	var re *azcore.ResponseError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 429, re.StatusCode)
	assert.Equal(t, "7", re.RawResponse.Header.Get("Retry-After"))
	_, err = c.GetSecret(ctx, "s-aa", "", nil)
	require.NoError(t, err, "Times: 1")

	// A token for another scope is refused by the credential.
	_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	assert.Error(t, err)
	// And a plain-HTTP endpoint is refused by the SDK's bearer policy.
	insecure, err := azsecrets.NewClient("http://127.0.0.1:1", cred, &azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}, Timeout: time.Second}}})
	require.NoError(t, err)
	_, err = insecure.GetSecret(ctx, "s-aa", "", nil)
	assert.Error(t, err)
}
