package main

import "os"

// demoMode and demoKeySetting are the Secret volume's mode in the offline
// run and the file:// setting that lets provider/file read it.
const (
	demoMode       os.FileMode = 0o400
	demoKeySetting             = ""
)
