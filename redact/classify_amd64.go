//go:build amd64 && !purego

package redact

import "golang.org/x/sys/cpu"

// hasAVX2 says the CPU and the OS support AVX2 (cpu checks both).
var hasAVX2 = cpu.X86.HasAVX2

// classifyAVX2 is classifyGeneric in AVX2; n is a multiple of 64.
//
//go:noescape
func classifyAVX2(src *byte, n int, t *classTables, out *uint64)

func classifyBlocks(src []byte, t *classTables, out []uint64) {
	if !hasAVX2 {
		classifyGeneric(src, t, out)
		return
	}
	n := len(src) &^ 63
	if n == 0 {
		return
	}
	_ = out[n/32-1] // the kernel writes 2 words per 64 bytes
	classifyAVX2(&src[0], n, t, &out[0])
}
