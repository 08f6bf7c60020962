//go:build amd64 && !purego

#include "textflag.h"

// Table offsets in classTables.
#define LOA 0
#define HIA 32
#define LOB 64
#define HIB 96
#define LOF 128
#define HIF 160
#define LOR 192
#define HIR 224
#define NIB 256
#define ESC 288
#define ZERO 320
#define KX 352
#define KY 384

// HALF classifies the 32 bytes at off(SI): the candidate mask into CAND
// (less the kill pair: a byte KX followed by KY) and the run mask into RUN
// (32 bits each, 1 = in), and sets in Y5 the bytes that are an escape
// byte.
//   Y6 loA  Y7 hiA  Y8 loB  Y9 hiB  Y10 loF  Y11 hiF  Y12 loR  Y13 hiR
//   Y14 esc  Y15 0x0F
#define HALF(off, CAND, RUN) \
	VMOVDQU   off(SI), Y0      \
	VPSRLW    $4, Y0, Y1       \
	VPAND     Y15, Y1, Y1      \
	VPAND     Y15, Y0, Y0      \
	VPSHUFB   Y0, Y14, Y4      \
	VPCMPEQB  off(SI), Y4, Y4  \
	VPOR      Y4, Y5, Y5       \
	VPSHUFB   Y0, Y6, Y2       \
	VPSHUFB   Y1, Y7, Y3       \
	VPAND     Y3, Y2, Y2       \
	VPSHUFB   Y0, Y12, Y3      \
	VPSHUFB   Y1, Y13, Y4      \
	VPAND     Y4, Y3, Y3       \
	VPCMPEQB  ZERO(DX), Y3, Y3 \
	VPMOVMSKB Y3, RUN          \
	VMOVDQU   off-1(SI), Y0    \
	VPSRLW    $4, Y0, Y1       \
	VPAND     Y15, Y1, Y1      \
	VPAND     Y15, Y0, Y0      \
	VPSHUFB   Y0, Y8, Y3       \
	VPSHUFB   Y1, Y9, Y4       \
	VPAND     Y4, Y3, Y3       \
	VPAND     Y3, Y2, Y2       \
	VMOVDQU   off+1(SI), Y0    \
	VPCMPEQB  KY(DX), Y0, Y4   \
	VMOVDQU   off(SI), Y3      \
	VPCMPEQB  KX(DX), Y3, Y3   \
	VPAND     Y4, Y3, Y3       \
	VPANDN    Y2, Y3, Y2       \
	VPSRLW    $4, Y0, Y1       \
	VPAND     Y15, Y1, Y1      \
	VPAND     Y15, Y0, Y0      \
	VPSHUFB   Y0, Y10, Y3      \
	VPSHUFB   Y1, Y11, Y4      \
	VPAND     Y4, Y3, Y3       \
	VPAND     Y3, Y2, Y2       \
	VPCMPEQB  ZERO(DX), Y2, Y2 \
	VPMOVMSKB Y2, CAND

// func classifyAVX2(src *byte, n int, t *classTables, out *uint64) (esc bool)
TEXT ·classifyAVX2(SB), NOSPLIT, $0-33
	MOVQ src+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ t+16(FP), DX
	MOVQ out+24(FP), DI
	VMOVDQU LOA(DX), Y6
	VMOVDQU HIA(DX), Y7
	VMOVDQU LOB(DX), Y8
	VMOVDQU HIB(DX), Y9
	VMOVDQU LOF(DX), Y10
	VMOVDQU HIF(DX), Y11
	VMOVDQU LOR(DX), Y12
	VMOVDQU HIR(DX), Y13
	VMOVDQU NIB(DX), Y15
	VMOVDQU ESC(DX), Y14
	VPXOR   Y5, Y5, Y5

loop:
	CMPQ CX, $64
	JB   done
	HALF(0, AX, BX)
	HALF(32, R8, R9)
	// The compares set a byte where the test failed: invert.
	SHLQ $32, R8
	ORQ  R8, AX
	NOTQ AX
	SHLQ $32, R9
	ORQ  R9, BX
	NOTQ BX
	MOVQ AX, 0(DI)
	MOVQ BX, 8(DI)
	ADDQ $64, SI
	ADDQ $16, DI
	SUBQ $64, CX
	JMP  loop

done:
	VPTEST  Y5, Y5
	SETNE   esc+32(FP)
	VZEROUPPER
	RET
