package file_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider/file"
	"github.com/credkit/credkit/provider/providertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const key = "sk-proj-FAKE0000000000000000000000000000"

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	require.NoError(t, os.WriteFile(path, []byte(content), mode))
	require.NoError(t, os.Chmod(path, mode))
}

// replace writes content to path atomically, as editors and kubelet do.
func replace(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	write(t, tmp, content, 0o600)
	require.NoError(t, os.Rename(tmp, path))
}

type harness struct {
	dir string
	p   *file.Provider
	ext string
}

func (h *harness) Provider() credential.Provider { return h.p }
func (h *harness) Create(t *testing.T, name, value string) string {
	write(t, filepath.Join(h.dir, name+h.ext), value, 0o600)
	return name + h.ext
}
func (h *harness) Update(t *testing.T, ref, value string) {
	// A different size or inode must be seen even within one mtime tick.
	replace(t, filepath.Join(h.dir, ref), value)
}
func (h *harness) Delete(t *testing.T, ref string) {
	require.NoError(t, os.Remove(filepath.Join(h.dir, ref)))
}

// Deny makes the file unreadable. Root reads anything, so it then also
// moves the file out of the root: either way the fetch must be refused.
func (h *harness) Deny(t *testing.T, ref string) {
	path := filepath.Join(h.dir, ref)
	if os.Geteuid() != 0 {
		require.NoError(t, os.Chmod(path, 0o000))
		return
	}
	outside := filepath.Join(t.TempDir(), "outside")
	require.NoError(t, os.Rename(path, outside))
	require.NoError(t, os.Symlink(outside, path))
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	providertest.Run(t, &harness{dir: dir, p: file.New(file.WithRoot(dir))})
}

func TestPlainFile(t *testing.T) {
	dir := t.TempDir()
	p := file.New()
	for name, content := range map[string]string{"lf": key + "\n", "crlf": key + "\r\n", "none": key} {
		path := filepath.Join(dir, name)
		write(t, path, content, 0o600)
		v, err := p.Fetch(context.Background(), path)
		require.NoError(t, err, name)
		assert.True(t, v.Secret.Reveal() == key, "%s: one trailing newline is trimmed", name)
		info, _ := os.Stat(path)
		assert.Equal(t, info.ModTime(), v.Created)
	}
	write(t, filepath.Join(dir, "two"), key+"\n\n", 0o600)
	v, err := p.Fetch(context.Background(), filepath.Join(dir, "two"))
	require.NoError(t, err)
	assert.Equal(t, len(key)+1, v.Secret.Len(), "only one newline is trimmed")
}

func TestFormats(t *testing.T) {
	dir := t.TempDir()
	p := file.New(file.WithRoot(dir))
	write(t, filepath.Join(dir, "keys.json"), `{"openai":"`+key+`"}`, 0o600)
	write(t, filepath.Join(dir, "app.env"), "# keys\nexport OPENAI_API_KEY=\""+key+"\"\nOTHER=x\n", 0o600)
	write(t, filepath.Join(dir, ".env.production"), "OPENAI_API_KEY='"+key+"'\n", 0o600)
	write(t, filepath.Join(dir, "creds"), `{"openai":"`+key+`"}`, 0o600)
	for _, ref := range []string{"keys.json#openai", "app.env#OPENAI_API_KEY", ".env.production#OPENAI_API_KEY", "creds#openai"} {
		v, err := p.Fetch(context.Background(), ref)
		require.NoError(t, err, ref)
		assert.True(t, v.Secret.Reveal() == key, "%s: value mismatch", ref)
	}
	_, err := p.Fetch(context.Background(), "app.env#MISSING")
	assert.True(t, errors.Is(err, credential.ErrNotFound))
	_, err = p.Fetch(context.Background(), "keys.json")
	assert.True(t, errors.Is(err, credential.ErrInvalid), "a JSON file needs a field")

	forced := file.New(file.WithRoot(dir), file.WithFormat(file.Plain))
	v, err := forced.Fetch(context.Background(), "keys.json")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(v.Secret.Reveal(), "{"), "WithFormat(Plain) reads the whole file")
}

// k8sFolder lays out a secret folder as kubelet does: the keys are symlinks
// to ..data/KEY, and ..data is a symlink to a timestamped folder that is
// swapped atomically on update.
func k8sFolder(t *testing.T, dir string, gen int, files map[string]string) {
	t.Helper()
	ts := filepath.Join(dir, "..2026_11_25_04_00_00."+string(rune('a'+gen)))
	for k, v := range files {
		write(t, filepath.Join(ts, k), v, 0o600)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	require.NoError(t, os.Symlink(filepath.Base(ts), tmp))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, "..data")))
	for k := range files {
		link := filepath.Join(dir, k)
		if _, err := os.Lstat(link); err != nil {
			require.NoError(t, os.Symlink(filepath.Join("..data", k), link))
		}
	}
}

func TestKubernetesFolder(t *testing.T) {
	dir := t.TempDir()
	k8sFolder(t, dir, 0, map[string]string{"api-key": key, "org": "org-FAKE"})
	p := file.New()
	v1, err := p.Fetch(context.Background(), dir+"#api-key")
	require.NoError(t, err)
	assert.True(t, v1.Secret.Reveal() == key, "value mismatch")

	k8sFolder(t, dir, 1, map[string]string{"api-key": key + "-rotated", "org": "org-FAKE"})
	v2, err := p.Fetch(context.Background(), dir+"#api-key")
	require.NoError(t, err)
	assert.True(t, v2.Secret.Reveal() == key+"-rotated", "the swap is seen")
	assert.NotEqual(t, v1.ID, v2.ID)

	for _, bad := range []string{dir, dir + "#../x", dir + "#..data"} {
		_, err := p.Fetch(context.Background(), bad)
		assert.True(t, errors.Is(err, credential.ErrInvalid), bad)
	}
	_, err = p.Fetch(context.Background(), dir+"#missing")
	assert.True(t, errors.Is(err, credential.ErrNotFound))

	// A key that links out of its folder is refused.
	outside := filepath.Join(t.TempDir(), "elsewhere")
	write(t, outside, key, 0o600)
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "escape")))
	_, err = p.Fetch(context.Background(), dir+"#escape")
	assert.True(t, errors.Is(err, credential.ErrPermission))
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	p := file.New(file.WithRoot(dir), file.WithMaxSize(128))
	write(t, filepath.Join(dir, "world-readable"), key, 0o644)
	write(t, filepath.Join(dir, "big"), strings.Repeat("k", 129), 0o600)
	write(t, filepath.Join(dir, "binary"), "sk-\xff\xfe\x00FAKE", 0o600)
	write(t, filepath.Join(dir, "empty"), "\n", 0o600)
	outside := filepath.Join(t.TempDir(), "outside")
	write(t, outside, key, 0o600)
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "link")))

	cases := []struct {
		ref  string
		kind error
		says string
	}{
		{"world-readable", credential.ErrInvalid, "readable by group or others"},
		{"big", credential.ErrInvalid, "size limit"},
		{"binary", credential.ErrInvalid, "UTF-8"},
		{"empty", credential.ErrInvalid, "empty"},
		{"link", credential.ErrPermission, "outside the allowed root"},
		{"../" + filepath.Base(filepath.Dir(outside)) + "/outside", credential.ErrPermission, "outside the allowed root"},
		{"missing", credential.ErrNotFound, "no such file"},
		{"", credential.ErrInvalid, "not a file path"},
	}
	for _, tc := range cases {
		_, err := p.Fetch(context.Background(), tc.ref)
		require.Error(t, err, tc.ref)
		assert.True(t, errors.Is(err, tc.kind), "%s: got %v", tc.ref, err)
		assert.Contains(t, err.Error(), tc.says)
		assert.Equal(t, -1, providertest.Leak(err.Error(), key), "%s: error quotes the file", tc.ref)
	}
	_, err := file.New().Fetch(context.Background(), "relative/path")
	assert.True(t, errors.Is(err, credential.ErrInvalid))

	ok := file.New(file.WithInsecureMode())
	_, err = ok.Fetch(context.Background(), filepath.Join(dir, "world-readable"))
	assert.NoError(t, err, "WithInsecureMode accepts a readable file")
}

// CurrentVersion agrees with Fetch, and sees an atomic replacement.
func TestCurrentVersionIsAStat(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	write(t, path, key, 0o600)
	p := file.New()
	v, err := p.Fetch(context.Background(), path)
	require.NoError(t, err)

	id, err := p.CurrentVersion(context.Background(), path)
	require.NoError(t, err)
	assert.Equal(t, v.ID, id)

	replace(t, path, key+"-2")
	id2, err := p.CurrentVersion(context.Background(), path)
	require.NoError(t, err)
	assert.NotEqual(t, id, id2)
	v2, err := p.Fetch(context.Background(), path)
	require.NoError(t, err)
	assert.Equal(t, v2.ID, id2)
}

func waitCalls(t *testing.T, n *atomic.Int32, min int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < min {
		if time.Now().After(deadline) {
			t.Fatalf("changed called %d times, want at least %d", n.Load(), min)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNotifyChange(t *testing.T) {
	t.Run("rename on save", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "key")
		write(t, path, key, 0o600)
		var n atomic.Int32
		stop, err := file.New().NotifyChange(path, func() { n.Add(1) })
		require.NoError(t, err)
		defer stop()
		replace(t, path, key+"-2")
		waitCalls(t, &n, 1)
	})
	t.Run("delete then create", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "key")
		write(t, path, key, 0o600)
		var n atomic.Int32
		stop, err := file.New().NotifyChange(path, func() { n.Add(1) })
		require.NoError(t, err)
		defer stop()
		require.NoError(t, os.Remove(path))
		waitCalls(t, &n, 1)
		before := n.Load()
		write(t, path, key+"-3", 0o600)
		waitCalls(t, &n, before+1)
	})
	t.Run("kubernetes ..data swap", func(t *testing.T) {
		dir := t.TempDir()
		k8sFolder(t, dir, 0, map[string]string{"api-key": key})
		var n atomic.Int32
		stop, err := file.New().NotifyChange(dir+"#api-key", func() { n.Add(1) })
		require.NoError(t, err)
		defer stop()
		k8sFolder(t, dir, 1, map[string]string{"api-key": key + "-k"})
		waitCalls(t, &n, 1)
	})
	t.Run("stop is idempotent and final", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "key")
		write(t, path, key, 0o600)
		var n atomic.Int32
		stop, err := file.New().NotifyChange(path, func() { n.Add(1) })
		require.NoError(t, err)
		stop()
		stop()
		replace(t, path, key+"-4")
		time.Sleep(50 * time.Millisecond)
		assert.EqualValues(t, 0, n.Load())
	})
	t.Run("missing folder", func(t *testing.T) {
		_, err := file.New().NotifyChange(filepath.Join(t.TempDir(), "nope", "key"), func() {})
		assert.True(t, errors.Is(err, credential.ErrNotFound))
	})
}
