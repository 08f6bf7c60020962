package main

import "os"

// The Secret volumes' files are 0440 in the Deployment (defaultMode 0440,
// read through fsGroup). provider/file refuses group-readable files unless
// told otherwise; until it has a setting that accepts 0440 alone (and not
// 0444), the tests lay the files out 0400.
const (
	demoMode     os.FileMode = 0o400
	demoKeyQuery             = ""
)

// manifestFileMode is the mode the tests give the files of a volume whose
// defaultMode is mode.
func manifestFileMode(mode os.FileMode) os.FileMode { return demoMode }
