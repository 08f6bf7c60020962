package main

import "os"

// The Secret volumes' files are 0440, as the Deployment mounts them
// (defaultMode 0440, read through the pod's fsGroup). provider/file
// refuses a file its group may read unless the URL says
// allow_group_readable=true (file.WithGroupReadable); it still refuses one
// others may read (0444) or its group may write.
const (
	demoMode     os.FileMode = 0o440
	demoKeyQuery             = "?allow_group_readable=true"
)

// manifestFileMode is the mode the tests give the files of a volume whose
// defaultMode is mode: that mode, as the kubelet does.
func manifestFileMode(mode os.FileMode) os.FileMode { return mode }
