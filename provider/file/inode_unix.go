//go:build unix

package file

import (
	"os"
	"strconv"
	"syscall"
)

// inode returns the file's inode number where the platform has one, so that
// an atomic rename of a file with the same size and time is still seen.
func inode(info os.FileInfo) string {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return strconv.FormatUint(uint64(st.Ino), 10)
	}
	return ""
}
