package file_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	// Only one newline is trimmed: a value holding a line break, NUL or CR
	// is refused at fetch rather than failing deep inside a request.
	for name, content := range map[string]string{"two": key + "\n\n", "inside": key + "\nX-Evil: 1\n", "nul": key + "\x00", "cr": "sk-\r" + key} {
		write(t, filepath.Join(dir, name), content, 0o600)
		_, err := p.Fetch(context.Background(), filepath.Join(dir, name))
		assert.True(t, errors.Is(err, credential.ErrInvalid), name)
	}
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
		{"world-readable", credential.ErrInvalid, "readable or writable by others (mode 0644)"},
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

// swapData is kubelet's update: write a new timestamped folder, swap the
// ..data link to it, remove the old folder.
func swapData(t *testing.T, dir string, gen int, value string) {
	ts := filepath.Join(dir, "..ts_"+strconv.Itoa(gen))
	if err := os.MkdirAll(ts, 0o700); err != nil {
		t.Error(err)
		return
	}
	if err := os.WriteFile(filepath.Join(ts, "api-key"), []byte(value), 0o600); err != nil {
		t.Error(err)
		return
	}
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Error(err)
		return
	}
	if gen > 0 {
		_ = os.RemoveAll(filepath.Join(dir, "..ts_"+strconv.Itoa(gen-1)))
	}
}

// Reads during back-to-back ..data swaps return one whole version or a
// transient error, never a partial value nor ErrNotFound.
func TestKubernetesSwapChaos(t *testing.T) {
	dir := t.TempDir()
	values := []string{key, "sk-proj-FAKE1111111111111111111111111111-longer"}
	swapData(t, dir, 0, values[0])
	require.NoError(t, os.Symlink(filepath.Join("..data", "api-key"), filepath.Join(dir, "api-key")))
	p := file.New()
	ref := dir + "#api-key"

	stop := make(chan struct{})
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		for gen := 1; ; gen++ {
			select {
			case <-stop:
				return
			default:
			}
			swapData(t, dir, gen, values[gen%2])
		}
	}()
	var ok, transient, wrong atomic.Int32
	var readers sync.WaitGroup
	for r := 0; r < 4; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; i < 300; i++ {
				v, err := p.Fetch(context.Background(), ref)
				switch {
				case err == nil && (v.Secret.Reveal() == values[0] || v.Secret.Reveal() == values[1]):
					ok.Add(1)
				case err != nil && errors.Is(err, credential.ErrUnavailable):
					transient.Add(1)
				default:
					t.Logf("fetch: %v", credential.KindName(err))
					wrong.Add(1)
				}
				if _, err := p.CurrentVersion(context.Background(), ref); err != nil && !errors.Is(err, credential.ErrUnavailable) {
					t.Logf("current version: %v", credential.KindName(err))
					wrong.Add(1)
				}
			}
		}()
	}
	readers.Wait()
	close(stop)
	<-swapped
	t.Logf("%d whole values, %d transient errors", ok.Load(), transient.Load())
	assert.Zero(t, wrong.Load(), "rule: a read during a swap is a whole version or ErrUnavailable")
	assert.Positive(t, ok.Load())
}

func TestNotifySharedWatcher(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write(t, a, key, 0o600)
	write(t, b, key, 0o600)
	// A quiet period longer than the burst takes even on a loaded machine
	// (at 50 ms, five renames under -race on two busy cores sometimes
	// spanned two periods).
	p := file.New(file.WithDebounce(300 * time.Millisecond))
	var na, nb atomic.Int32
	stopA, err := p.NotifyChange(a, func() { na.Add(1) })
	require.NoError(t, err)
	stopB, err := p.NotifyChange(b, func() { nb.Add(1) })
	require.NoError(t, err)

	// A burst of writes to a is one call; b is not called.
	for i := 0; i < 5; i++ {
		replace(t, a, key+strconv.Itoa(i))
	}
	waitCalls(t, &na, 1)
	assert.EqualValues(t, 0, nb.Load(), "a change to another file of the folder is not reported")
	// The watcher handles events in order: once b's change has been
	// reported, anything left of a's burst would have been too.
	replace(t, b, key+"-b")
	waitCalls(t, &nb, 1)
	assert.EqualValues(t, 1, na.Load(), "a burst is coalesced into one call")

	// Stopping a leaves b's watch working.
	stopA()
	replace(t, b, key+"-b2")
	waitCalls(t, &nb, 2)
	stopB()
	stopB()
}

func (h *harness) StoresEmpty()      {}
func (h *harness) BadRefs() []string { return []string{"nul\x00byte", "/"} }

// A file that links into another folder is seen changing there.
func TestNotifyFollowsLinkedFile(t *testing.T) {
	secrets, app := t.TempDir(), t.TempDir()
	target := filepath.Join(secrets, "openai")
	write(t, target, key, 0o600)
	link := filepath.Join(app, "openai")
	require.NoError(t, os.Symlink(target, link))
	var n atomic.Int32
	stop, err := file.New().NotifyChange(link, func() { n.Add(1) })
	require.NoError(t, err)
	defer stop()
	replace(t, target, key+"-linked")
	waitCalls(t, &n, 1)
}
