//go:build !unix

package file

import "os"

// openFile opens path for reading. Platforms without O_NONBLOCK rely on the
// regular-file check made before the open.
func openFile(path string) (*os.File, error) { return os.Open(path) }

// sysKey is empty where the platform has no inode numbers nor change time:
// size, modification time and mode alone detect a change.
func sysKey(os.FileInfo) string { return "" }
