//go:build unix

package file

import (
	"os"
	"syscall"
)

// openFile opens path for reading without blocking: O_NONBLOCK makes the
// open of a FIFO with no writer return at once (regular files read as
// usual), and O_NOFOLLOW refuses a link swapped in after resolution.
func openFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
}
