package file_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/provider/file"
	"github.com/credkit/credkit/rotate"
)

// within1s runs f under a 1 s deadline and fails the test if it has not
// returned by then (a FIFO used to block the open forever).
func within1s(t *testing.T, what string, f func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Second):
		t.Fatalf("rule: %s never blocks on a FIFO: still running after its 1 s deadline", what)
		return nil
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, syscall.Mkfifo(path, 0o600))
}

// A FIFO, a device or a socket at a secret path is refused at once, never
// opened for a blocking read.
func TestNonRegularFilesNeverBlock(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	mkfifo(t, fifo)
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	require.NoError(t, os.Symlink(fifo, filepath.Join(dir, "link-to-fifo")))
	k8s := filepath.Join(dir, "k8s")
	require.NoError(t, os.MkdirAll(filepath.Join(k8s, "..ts_1"), 0o700))
	mkfifo(t, filepath.Join(k8s, "..ts_1", "api-key"))
	require.NoError(t, os.Symlink("..ts_1", filepath.Join(k8s, "..data")))
	require.NoError(t, os.Symlink(filepath.Join("..data", "api-key"), filepath.Join(k8s, "api-key")))

	p := file.New(file.WithInsecureMode())
	for ref, says := range map[string]string{
		fifo:                               "a FIFO",
		filepath.Join(dir, "link-to-fifo"): "a FIFO",
		k8s + "#api-key":                   "a FIFO",
		sock:                               "a socket",
		"/dev/null":                        "a device",
	} {
		err := within1s(t, "Fetch", func(ctx context.Context) error { _, err := p.Fetch(ctx, ref); return err })
		assert.True(t, errors.Is(err, credential.ErrInvalid), "%s: %v", ref, err)
		assert.Contains(t, err.Error(), says)
		err = within1s(t, "CurrentVersion", func(ctx context.Context) error { _, err := p.CurrentVersion(ctx, ref); return err })
		assert.True(t, errors.Is(err, credential.ErrInvalid), "%s: %v", ref, err)
		err = within1s(t, "rotate.Watch", func(ctx context.Context) error {
			c, err := rotate.Watch(ctx, "fifo", p, ref)
			if err == nil {
				c.Close()
			}
			return err
		})
		assert.True(t, errors.Is(err, credential.ErrInvalid), "%s: %v", ref, err)
	}
}

// A watched file swapped for a FIFO: the refresh fails at once with
// ErrInvalid, and Close returns.
func TestWatchedFileSwappedForFIFO(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	write(t, path, key, 0o600)
	c, err := rotate.Watch(context.Background(), "openai", file.New(), path)
	require.NoError(t, err)
	fifo := filepath.Join(dir, "fifo")
	mkfifo(t, fifo)
	require.NoError(t, os.Rename(fifo, path))
	err = within1s(t, "Refresh", func(ctx context.Context) error { _, err := c.Refresh(ctx); return err })
	assert.True(t, errors.Is(err, credential.ErrInvalid), "got %v", err)
	s, err := c.Get(context.Background())
	require.NoError(t, err)
	assert.True(t, s.Reveal() == key, "the last good value is kept")
	within1s(t, "Close", func(context.Context) error { return c.Close() })
}

// A context that is already done stops a read before it starts.
func TestReadsHonourTheContext(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	write(t, path, key, 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := file.New()
	_, err := p.Fetch(ctx, path)
	assert.True(t, errors.Is(err, context.Canceled))
	_, err = p.CurrentVersion(ctx, path)
	assert.True(t, errors.Is(err, context.Canceled))
}

// A key link whose target is gone (a "..data" swap caught in the middle, or
// a link left dangling) is transient, never ErrNotFound; a key that is not
// in the folder at all is ErrNotFound.
func TestDanglingKeyLinkIsUnavailableNotNotFound(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Symlink("..ts_removed", filepath.Join(dir, "..data")))
	require.NoError(t, os.Symlink(filepath.Join("..data", "api-key"), filepath.Join(dir, "api-key")))
	p := file.New()
	_, err := p.Fetch(context.Background(), dir+"#api-key")
	assert.True(t, errors.Is(err, credential.ErrUnavailable), "got %v", err)
	_, err = p.CurrentVersion(context.Background(), dir+"#api-key")
	assert.True(t, errors.Is(err, credential.ErrUnavailable), "got %v", err)
	_, err = p.Fetch(context.Background(), dir+"#other-key")
	assert.True(t, errors.Is(err, credential.ErrNotFound), "got %v", err)
}

// nextCtimeTick waits until the kernel's change-time clock has moved past
// path's change time, by watching the change time of a probe file.
func nextCtimeTick(t *testing.T, path string) {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	was := info.Sys().(*syscall.Stat_t).Ctim
	probe := path + ".probe"
	deadline := time.Now().Add(5 * time.Second)
	for {
		require.NoError(t, os.WriteFile(probe, nil, 0o600))
		pi, err := os.Stat(probe)
		require.NoError(t, err)
		now := pi.Sys().(*syscall.Stat_t).Ctim
		if now.Sec > was.Sec || now.Sec == was.Sec && now.Nsec > was.Nsec {
			require.NoError(t, os.Remove(probe))
			return
		}
		require.True(t, time.Now().Before(deadline), "the change-time clock did not move")
	}
}

// The stat check sees what the kernel changes on every write and chmod: a
// same-size rewrite in place that puts the modification time back, and an
// in-place chmod 644 (which must then fail as Fetch does).
func TestCurrentVersionSeesEveryChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	write(t, path, key, 0o600)
	p := file.New()
	v, err := p.Fetch(context.Background(), path)
	require.NoError(t, err)
	info, err := os.Stat(path)
	require.NoError(t, err)

	nextCtimeTick(t, path)
	other := key[:len(key)-4] + "ZZZZ" // same size
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte(other), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Chtimes(path, info.ModTime(), info.ModTime()))
	id, err := p.CurrentVersion(context.Background(), path)
	require.NoError(t, err)
	assert.NotEqual(t, v.ID, id, "rule: a same-size rewrite that restores the modification time is seen")
	v2, err := p.Fetch(context.Background(), path)
	require.NoError(t, err)
	assert.Equal(t, v2.ID, id)

	nextCtimeTick(t, path)
	require.NoError(t, os.Chmod(path, 0o644))
	_, err = p.CurrentVersion(context.Background(), path)
	assert.True(t, errors.Is(err, credential.ErrInvalid), "rule: a file that became world-readable is not fresh: %v", err)
}

// Group-readable files have their own setting; world-readable stays
// refused; the error names the Go option and the URL setting.
func TestGroupReadable(t *testing.T) {
	dir := t.TempDir()
	for _, m := range []os.FileMode{0o640, 0o440, 0o660, 0o644, 0o604} {
		write(t, filepath.Join(dir, modeName(m)), key, m)
	}
	ctx := context.Background()
	strict, group := file.New(file.WithRoot(dir)), file.New(file.WithRoot(dir), file.WithGroupReadable())
	for _, m := range []os.FileMode{0o640, 0o440} {
		_, err := strict.Fetch(ctx, modeName(m))
		assert.True(t, errors.Is(err, credential.ErrInvalid), modeName(m))
		assert.Contains(t, err.Error(), "WithGroupReadable")
		assert.Contains(t, err.Error(), "allow_group_readable=true")
		v, err := group.Fetch(ctx, modeName(m))
		require.NoError(t, err, modeName(m))
		assert.True(t, v.Secret.Reveal() == key)
	}
	for _, m := range []os.FileMode{0o660, 0o644, 0o604} {
		_, err := group.Fetch(ctx, modeName(m))
		assert.True(t, errors.Is(err, credential.ErrInvalid), "%s stays refused", modeName(m))
		assert.Contains(t, err.Error(), "WithInsecureMode")
		assert.Contains(t, err.Error(), "allow_insecure_mode=true")
	}

	mux := provider.NewURLMux()
	fetch := func(raw string) error {
		p, ref, err := mux.Resolve(ctx, raw)
		if err == nil {
			_, err = p.Fetch(ctx, ref)
		}
		return err
	}
	assert.True(t, errors.Is(fetch("file://"+filepath.Join(dir, "0440")), credential.ErrInvalid))
	assert.NoError(t, fetch("file://"+filepath.Join(dir, "0440")+"?allow_group_readable=true"))
	assert.True(t, errors.Is(fetch("file://"+filepath.Join(dir, "0644")+"?allow_group_readable=true"), credential.ErrInvalid))
	assert.True(t, errors.Is(fetch("file:///x?allow_group_readable=maybe"), credential.ErrInvalid))
}

func modeName(m os.FileMode) string { return fmt.Sprintf("%04o", uint32(m)) }

// A root folder that does not exist yet works once it appears.
func TestRootThatAppearsLater(t *testing.T) {
	root := filepath.Join(t.TempDir(), "later")
	p := file.New(file.WithRoot(root))
	_, err := p.Fetch(context.Background(), "openai")
	assert.True(t, errors.Is(err, credential.ErrNotFound), "got %v", err)
	_, err = p.NotifyChange("openai", func() {})
	assert.True(t, errors.Is(err, credential.ErrNotFound), "got %v", err)
	write(t, filepath.Join(root, "openai"), key, 0o600)
	v, err := p.Fetch(context.Background(), "openai")
	require.NoError(t, err)
	assert.True(t, v.Secret.Reveal() == key)
	stop, err := p.NotifyChange("openai", func() {})
	require.NoError(t, err)
	stop()
}
