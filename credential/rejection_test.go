package credential_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
)

// rejectionAware is a rotating credential that is also told which value
// the server rejected.
type rejectionAware struct {
	*rotating
	rejected []credential.Secret
}

func (r *rejectionAware) RefreshRejected(ctx context.Context, rejected credential.Secret) (bool, error) {
	r.rejected = append(r.rejected, rejected)
	return r.Refresh(ctx)
}

// Transport tells a RejectionRefresher the value the 401 rejected (a rate
// limit per version needs it), and uses it instead of Refresh.
func TestTransportTellsWhichValueWasRejected(t *testing.T) {
	srv := newServer(t, "Authorization", "Bearer "+newKey)
	c := &rejectionAware{rotating: &rotating{Static: credential.NewStatic("openai", credential.NewSecret(oldKey), credential.Metadata{}), next: credential.NewSecret(newKey)}}
	client := &http.Client{Transport: &credential.Transport{Credential: c}}
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the retry with the refreshed key succeeds")
	require.Len(t, c.rejected, 1)
	assert.True(t, c.rejected[0].Equal(credential.NewSecret(oldKey)), "the rejected value is the one sent")
}
