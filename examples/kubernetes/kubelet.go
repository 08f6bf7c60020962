package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// KubeletVolume writes a folder the way the kubelet's AtomicWriter writes a
// Secret, ConfigMap or projected volume:
//
//	DIR/..2026_11_25_15_40_00.123456789/api-key   the files, in a timestamped folder
//	DIR/..data -> ..2026_11_25_15_40_00.123456789 the current payload
//	DIR/api-key -> ..data/api-key                  one symbolic link per key, made once
//
// An update writes a new timestamped folder, points a new "..data_tmp" link
// at it, renames that over "..data" (the one atomic step: a reader sees
// the old payload or the new, never a mix) and removes the old folder.
type KubeletVolume struct {
	Dir  string
	Mode os.FileMode // the files' mode: the volume's defaultMode
	seq  int
}

// Write replaces the volume's payload with files (key → content).
func (v *KubeletVolume) Write(files map[string]string) error {
	v.seq++
	ts := fmt.Sprintf("..%s.%09d", time.Now().UTC().Format("2006_01_02_15_04_05"), v.seq)
	tsDir := filepath.Join(v.Dir, ts)
	if err := os.Mkdir(tsDir, 0o755); err != nil {
		return err
	}
	for k, content := range files {
		p := filepath.Join(tsDir, k)
		if err := os.WriteFile(p, []byte(content), v.Mode); err != nil {
			return err
		}
		if err := os.Chmod(p, v.Mode); err != nil { // past the umask, as the kubelet does
			return err
		}
	}
	data := filepath.Join(v.Dir, "..data")
	old, _ := os.Readlink(data)
	tmp := filepath.Join(v.Dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, data); err != nil {
		return err
	}
	for k := range files {
		link := filepath.Join(v.Dir, k)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", k), link); err != nil {
				return err
			}
		}
	}
	if old != "" {
		return os.RemoveAll(filepath.Join(v.Dir, old))
	}
	return nil
}
