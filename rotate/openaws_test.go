package rotate_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/awsfake"
	"github.com/credkit/credkit/provider/aws"
	"github.com/credkit/credkit/rotate"
)

// awsResolver maps "aws-sm://name" to one provider, as a URLMux does for
// URLs sharing a configuration.
type awsResolver struct{ p *aws.Provider }

func (r awsResolver) Resolve(_ context.Context, raw string) (credential.Provider, string, error) {
	ref, ok := strings.CutPrefix(raw, "aws-sm://")
	if !ok {
		return nil, "", &credential.Error{Op: "open", Kind: credential.ErrInvalid, Reason: "unknown scheme"}
	}
	return r.p, ref, nil
}

// awsSet creates n secrets in a fake Secrets Manager and returns configs
// for them.
func awsSet(t testing.TB, n int) (*awsfake.Server, credential.Resolver, []rotate.Config) {
	fake := awsfake.New()
	t.Cleanup(fake.Close)
	// The SDK's default retryer, as a service has: on a loaded CI machine a
	// loopback read can fail once, and must not turn a batch into N calls.
	c := fake.Client(0)
	cfgs := make([]rotate.Config, n)
	for i := range cfgs {
		name := fmt.Sprintf("prod/svc%04d", i)
		_, err := c.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: sdkaws.String(name), SecretString: sdkaws.String(fmt.Sprintf("sk-proj-FAKE%036d", i))})
		require.NoError(t, err)
		cfgs[i] = rotate.Config{Name: fmt.Sprintf("svc%04d", i), URL: "aws-sm://" + name}
	}
	fake.ResetCalls()
	return fake, awsResolver{aws.New(c)}, cfgs
}

type tlog struct{ t testing.TB }

func (l tlog) Write(p []byte) (int, error) { l.t.Log(string(p)); return len(p), nil }

// BenchmarkOpenAWS opens a Set of 1,000 AWS secrets on the in-process fake
// and reports the Secrets Manager calls it makes.
func BenchmarkOpenAWS(b *testing.B) {
	const n = 1000
	fake, r, cfgs := awsSet(b, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := rotate.Open(context.Background(), r, cfgs, rotate.WithInterval(time.Hour, 0))
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.ReportMetric(float64(fake.TotalCalls())/float64(b.N), "calls/op")
}

// Issue 11, item 22: a Set of N AWS secrets opens with about ⌈N/100⌉
// ListSecrets (descriptions) and ⌈N/20⌉ BatchGetSecretValue (first
// values), not 2N DescribeSecret and GetSecretValue calls.
func TestOpenAWSInBatches(t *testing.T) {
	const n = 1000
	fake, r, cfgs := awsSet(t, n)
	s, err := rotate.Open(context.Background(), r, cfgs, rotate.WithInterval(time.Hour, 0), rotate.WithLogger(slog.New(slog.NewTextHandler(tlog{t}, nil))))
	require.NoError(t, err)
	defer s.Close()
	// ⌈N/100⌉ and ⌈N/20⌉, give or take a retried call.
	assert.InDelta(t, n/100, fake.Calls("ListSecrets"), 2)
	assert.InDelta(t, n/20, fake.Calls("BatchGetSecretValue"), 2)
	assert.Zero(t, fake.Calls("DescribeSecret"))
	assert.Zero(t, fake.Calls("GetSecretValue"))
	sec, err := s.Get(context.Background(), "svc0999")
	require.NoError(t, err)
	assert.True(t, same(sec, fmt.Sprintf("sk-proj-FAKE%036d", 999)))
}
