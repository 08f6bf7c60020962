//go:build !unix

package file

import "os"

// inode is empty where the platform has no inode numbers: size and
// modification time alone detect a change.
func inode(os.FileInfo) string { return "" }
