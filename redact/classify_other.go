//go:build !amd64 || purego

package redact

func classifyBlocks(src []byte, t *classTables, out []uint64) { classifyGeneric(src, t, out) }
