//go:build race

package redact_test

// raceEnabled: sync.Pool drops a share of what is put back under -race,
// so allocation counts are only asserted without it.
const raceEnabled = true
