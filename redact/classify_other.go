//go:build !amd64 || purego

package redact

const hasAVX2 = false

func classifyAVX2(src *byte, n int, t *classTables, out *uint64) bool { panic("no AVX2") }
