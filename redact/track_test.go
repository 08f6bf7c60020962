package redact_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/redact"
	"github.com/credkit/credkit/rotate"
)

// TestTrackRotateSet tracks a real rotate.Set: after a rotation both the
// new key and, during the overlap window, the old one are redacted.
func TestTrackRotateSet(t *testing.T) {
	const v1, v2 = "FAKE-v1-pc-Zq8Xw3Lk7Nm2Rt5", "FAKE-v2-pc-Hy6Bv1Qs9Jd4Wp0"
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

// racySource rotates its value right after its first read, as a rotation
// that lands between a tracker's first read and its listener's
// registration would.
type racySource struct {
	source
	rotated bool
}

func (s *racySource) Secrets(yield func(string, credential.Secret) bool) {
	s.source.Secrets(yield)
	s.mu.Lock()
	first := !s.rotated
	s.rotated = true
	s.mu.Unlock()
	if first {
		s.set("x", "FAKE-rotated-during-first-read")
	}
}

// TestTrackListensBeforeFirstRead is the regression test of issue 11 item
// 11: Track used to read the source and only then register its listener,
// so a rotation in between was missed until the next one.
func TestTrackListensBeforeFirstRead(t *testing.T) {
	src := &racySource{source: source{vals: map[string]credential.Secret{"x": credential.NewSecret("FAKE-value-before-rotation")}}}
	r := redact.New()
	stop := r.Track(src)
	defer stop()
	assert.True(t, r.Contains("k=FAKE-rotated-during-first-read"), "the value rotated in during the first read is tracked")
}
