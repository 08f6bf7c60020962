package gcpfake_test

import (
	"context"
	"testing"
	"time"

	smpb "cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/credkit/credkit/internal/gcpfake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// OpenCensus (a dependency of the Google SDKs) starts its worker in
		// an init function, for the life of the process.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

// TestServiceSemantics checks the fake against what the service documents:
// latest is the newest version whatever its state, a disabled version reads
// as FailedPrecondition, aliases name versions, CRC32C is Castagnoli, and
// faults, counters and denial work per method.
func TestServiceSemantics(t *testing.T) {
	ctx := context.Background()
	fake := gcpfake.New()
	defer fake.Close()
	c, err := fake.Client(ctx)
	require.NoError(t, err)
	defer c.Close()
	const name = "projects/p/secrets/s"
	_, err = c.CreateSecret(ctx, &smpb.CreateSecretRequest{Parent: "projects/p", SecretId: "s", Secret: &smpb.Secret{}})
	require.NoError(t, err)
	_, err = c.CreateSecret(ctx, &smpb.CreateSecretRequest{Parent: "projects/p", SecretId: "s"})
	assert.Equal(t, codes.AlreadyExists, status.Code(err))
	for _, v := range []string{"one", "two"} {
		_, err = c.AddSecretVersion(ctx, &smpb.AddSecretVersionRequest{Parent: name, Payload: &smpb.SecretPayload{Data: []byte(v)}})
		require.NoError(t, err)
	}
	bad := int64(1)
	_, err = c.AddSecretVersion(ctx, &smpb.AddSecretVersionRequest{Parent: name, Payload: &smpb.SecretPayload{Data: []byte("x"), DataCrc32C: &bad}})
	assert.Equal(t, codes.DataLoss, status.Code(err), "a client checksum is verified")

	r, err := c.AccessSecretVersion(ctx, &smpb.AccessSecretVersionRequest{Name: name + "/versions/latest"})
	require.NoError(t, err)
	assert.Equal(t, name+"/versions/2", r.Name)
	assert.Equal(t, gcpfake.CRC32C([]byte("two")), *r.Payload.DataCrc32C)
	assert.Equal(t, int64(0xe3069283), gcpfake.CRC32C([]byte("123456789")), "the Castagnoli check value")

	_, err = c.DisableSecretVersion(ctx, &smpb.DisableSecretVersionRequest{Name: name + "/versions/2"})
	require.NoError(t, err)
	_, err = c.AccessSecretVersion(ctx, &smpb.AccessSecretVersionRequest{Name: name + "/versions/latest"})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "latest is the newest version, even disabled")
	it := c.ListSecretVersions(ctx, &smpb.ListSecretVersionsRequest{Parent: name, Filter: "state:ENABLED"})
	v, err := it.Next()
	require.NoError(t, err)
	assert.Equal(t, name+"/versions/1", v.Name)

	fake.ResetCalls()
	fake.SetFault("AccessSecretVersion", &gcpfake.Fault{Code: codes.Internal, Times: 1})
	_, err = c.AccessSecretVersion(ctx, &smpb.AccessSecretVersionRequest{Name: name + "/versions/1"})
	assert.Equal(t, codes.Internal, status.Code(err))
	_, err = c.AccessSecretVersion(ctx, &smpb.AccessSecretVersionRequest{Name: name + "/versions/1"})
	require.NoError(t, err, "the fault was for one call")
	assert.Equal(t, 2, fake.Calls("AccessSecretVersion"))

	fake.SetFault("GetSecret", &gcpfake.Fault{Latency: time.Minute})
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = c.GetSecret(short, &smpb.GetSecretRequest{Name: name})
	assert.Error(t, err, "latency up to the caller's deadline")
	fake.SetFault("GetSecret", nil)

	fake.Deny(name)
	_, err = c.AccessSecretVersion(ctx, &smpb.AccessSecretVersionRequest{Name: name + "/versions/1"})
	assert.Equal(t, codes.PermissionDenied, status.Code(err))
}
