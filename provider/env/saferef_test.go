package env_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider/env"
	"github.com/credkit/credkit/provider/providertest"
)

// A ref that is no variable name ("A=sk-...", a value pasted where a name
// belongs) is ErrInvalid and is not printed: credential.SafeRef prints a
// plain ref whole.
func TestMalformedRefNotPrinted(t *testing.T) {
	const v = "ckt_QzXvKwJqYzPxWvQk"
	p := env.New(env.WithLookup(func(string) (string, bool) { return "", false }))
	for i, ref := range []string{"OPENAI_API_KEY=" + v, "=" + v, v + "\x00", "A\x00" + v + "#f"} {
		_, err := p.Fetch(context.Background(), ref)
		require.Error(t, err, "case %d", i)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "case %d", i)
		assert.Equal(t, -1, providertest.Leak(fmt.Sprintf("%v %#v", err, err), v), "case %d", i)
	}
}
