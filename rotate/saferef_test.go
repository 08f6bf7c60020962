package rotate_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider/providertest"
	"github.com/credkit/credkit/rotate"
)

// Open's own errors hold the URL only as credential.SafeRef prints it,
// in the error's fields too (a caller may log e.Ref, or the error with
// %#v): no user info, no value of a setting not known to be harmless.
func TestOpenErrorsHoldNoRawURL(t *testing.T) {
	const v = "ckt_QzXvKwJqYzPxWvQk"
	b := newBackend()
	b.set("k", keyA)
	for i, cfg := range []rotate.Config{
		{URL: "fake://k?token=" + v},
		{URL: "fake://svc:" + v + "@k"},
		{Name: "x", URL: "fake://k?token=" + v, Metadata: credential.Metadata{Environment: "development"}},
	} {
		_, err := rotate.Open(context.Background(), resolver{b}, []rotate.Config{cfg}, rotate.WithEnvironment("production"))
		require.Error(t, err, "case %d", i)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "case %d", i)
		var ce *credential.Error
		require.True(t, errors.As(err, &ce), "case %d", i)
		assert.Equal(t, -1, providertest.Leak(ce.Ref+fmt.Sprintf(" %#v %+v", err, err), v), "case %d: the raw URL is in the error", i)
	}
}
