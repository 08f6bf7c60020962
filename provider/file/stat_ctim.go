//go:build linux || openbsd || solaris || illumos || aix

package file

import (
	"os"
	"strconv"
	"syscall"
)

// sysKey returns the device, inode and change time of the file: an atomic
// rename changes the inode, a write or chmod the change time.
func sysKey(info os.FileInfo) string {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return strconv.FormatUint(uint64(st.Dev), 10) + ":" + strconv.FormatUint(uint64(st.Ino), 10) + ":" +
		strconv.FormatInt(int64(st.Ctim.Sec), 10) + "." + strconv.FormatInt(int64(st.Ctim.Nsec), 10)
}
