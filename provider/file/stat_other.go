//go:build unix && !(linux || openbsd || solaris || illumos || aix || darwin || freebsd || netbsd || dragonfly || ios)

package file

import "os"

// sysKey is empty where credkit does not know the platform's stat layout:
// size, modification time and mode alone detect a change.
func sysKey(os.FileInfo) string { return "" }
