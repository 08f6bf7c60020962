package file_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider/file"
	"github.com/credkit/credkit/provider/providertest"
)

// A ref holding NUL is no path: ErrInvalid, and not printed (it may be a
// value pasted where a path belongs).
func TestMalformedRefNotPrinted(t *testing.T) {
	const v = "ckt_QzXvKwJqYzPxWvQk"
	p := file.New(file.WithRoot(t.TempDir()))
	for i, ref := range []string{"/run/secrets/" + v + "\x00", v + "\x00x", "\x00" + v + "#f"} {
		_, err := p.Fetch(context.Background(), ref)
		require.Error(t, err, "case %d", i)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "case %d", i)
		assert.Equal(t, -1, providertest.Leak(fmt.Sprintf("%v %#v", err, err), v), "case %d", i)
	}
}
