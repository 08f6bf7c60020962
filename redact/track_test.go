package redact_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/redact"
	"github.com/credkit/credkit/rotate"
)

// TestTrackRotateSet tracks a real rotate.Set: after a rotation both the
// new key and, during the overlap window, the old one are redacted.
func TestTrackRotateSet(t *testing.T) {
	const v1, v2 = "FAKE-vector-db-key-version-one", "FAKE-vector-db-key-version-two"
	dir := t.TempDir()
	path := filepath.Join(dir, "pinecone")
	require.NoError(t, os.WriteFile(path, []byte(v1), 0o600))
	set, err := rotate.Open(context.Background(), provider.NewURLMux(), []rotate.Config{{Name: "pinecone", URL: "file://" + path}})
	require.NoError(t, err)
	defer set.Close()

	r := redact.New()
	stop := r.Track(set)
	defer stop()
	assert.True(t, r.Contains("k="+v1))
	assert.False(t, r.Contains("k="+v2))

	require.NoError(t, os.WriteFile(path+".new", []byte(v2), 0o600))
	require.NoError(t, os.Rename(path+".new", path))
	deadline := time.Now().Add(5 * time.Second)
	for !r.Contains("k="+v2) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	assert.True(t, r.Contains("k="+v2), "the new value is tracked after the rotation")
	assert.True(t, r.Contains("k="+v1), "the old value stays tracked during the overlap window")
}
