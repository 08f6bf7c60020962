package file

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/credkit/credkit/credential"
)

// A FIFO swapped in between the check of the path and its open is still
// refused, and the open does not block: read never waits for a writer.
func TestReadRefusesAFIFOItIsHanded(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := New().read("fifo", target{path: fifo})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, credential.ErrInvalid) {
			t.Fatalf("want ErrInvalid, got kind %s", credential.KindName(err))
		}
	case <-time.After(time.Second):
		t.Fatal("rule: opening a FIFO never blocks")
	}
}
