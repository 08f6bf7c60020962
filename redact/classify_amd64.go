//go:build amd64 && !purego

package redact

import "golang.org/x/sys/cpu"

// hasAVX2 says the CPU and the OS support AVX2 (cpu checks both).
var hasAVX2 = cpu.X86.HasAVX2

// classifyAVX2 is classifyGeneric in AVX2 over the n bytes at src (n a
// multiple of 64), reading src[-1] and src[n] too.
//
//go:noescape
func classifyAVX2(src *byte, n int, t *classTables, out *uint64) (esc bool)
