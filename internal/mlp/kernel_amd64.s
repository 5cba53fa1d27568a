//go:build !noasm

#include "textflag.h"

// Arguments of kern4x16 and kern4x8 (see kernel_amd64.go):
//   k+0 a+8 rsA+16 csA+24 b+32 ldb+40 c+48 ldc+56
// Registers: CX k, SI A row 0, BX A row 2, R8 rsA bytes, R9 csA bytes,
// DI B row p, R10 ldb bytes, DX C row 0, R12 C row 2, R11 ldc bytes.
// Each product is rounded (VMULPS) before it is added (VADDPS): the same
// arithmetic as gemmAccGo, element by element.

// func kern4x16(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int)
TEXT ·kern4x16(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rsA+16(FP), R8
	SHLQ $2, R8
	MOVQ csA+24(FP), R9
	SHLQ $2, R9
	MOVQ b+32(FP), DI
	MOVQ ldb+40(FP), R10
	SHLQ $2, R10
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R11
	SHLQ $2, R11
	LEAQ (DX)(R11*2), R12
	LEAQ (SI)(R8*2), BX

	VMOVUPS (DX), Y0
	VMOVUPS 32(DX), Y1
	VMOVUPS (DX)(R11*1), Y2
	VMOVUPS 32(DX)(R11*1), Y3
	VMOVUPS (R12), Y4
	VMOVUPS 32(R12), Y5
	VMOVUPS (R12)(R11*1), Y6
	VMOVUPS 32(R12)(R11*1), Y7

	TESTQ CX, CX
	JZ    store16

loop16:
	VMOVUPS      (DI), Y8
	VMOVUPS      32(DI), Y9
	VBROADCASTSS (SI), Y10
	VBROADCASTSS (SI)(R8*1), Y11
	VMULPS       Y8, Y10, Y12
	VMULPS       Y9, Y10, Y13
	VADDPS       Y12, Y0, Y0
	VADDPS       Y13, Y1, Y1
	VMULPS       Y8, Y11, Y14
	VMULPS       Y9, Y11, Y15
	VADDPS       Y14, Y2, Y2
	VADDPS       Y15, Y3, Y3
	VBROADCASTSS (BX), Y10
	VBROADCASTSS (BX)(R8*1), Y11
	VMULPS       Y8, Y10, Y12
	VMULPS       Y9, Y10, Y13
	VADDPS       Y12, Y4, Y4
	VADDPS       Y13, Y5, Y5
	VMULPS       Y8, Y11, Y14
	VMULPS       Y9, Y11, Y15
	VADDPS       Y14, Y6, Y6
	VADDPS       Y15, Y7, Y7
	ADDQ         R9, SI
	ADDQ         R9, BX
	ADDQ         R10, DI
	DECQ         CX
	JNZ          loop16

store16:
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	VMOVUPS Y2, (DX)(R11*1)
	VMOVUPS Y3, 32(DX)(R11*1)
	VMOVUPS Y4, (R12)
	VMOVUPS Y5, 32(R12)
	VMOVUPS Y6, (R12)(R11*1)
	VMOVUPS Y7, 32(R12)(R11*1)
	VZEROUPPER
	RET

// func kern4x8(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int)
TEXT ·kern4x8(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rsA+16(FP), R8
	SHLQ $2, R8
	MOVQ csA+24(FP), R9
	SHLQ $2, R9
	MOVQ b+32(FP), DI
	MOVQ ldb+40(FP), R10
	SHLQ $2, R10
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R11
	SHLQ $2, R11
	LEAQ (DX)(R11*2), R12
	LEAQ (SI)(R8*2), BX

	VMOVUPS (DX), Y0
	VMOVUPS (DX)(R11*1), Y2
	VMOVUPS (R12), Y4
	VMOVUPS (R12)(R11*1), Y6

	TESTQ CX, CX
	JZ    store8

loop8:
	VMOVUPS      (DI), Y8
	VBROADCASTSS (SI), Y10
	VBROADCASTSS (SI)(R8*1), Y11
	VBROADCASTSS (BX), Y12
	VBROADCASTSS (BX)(R8*1), Y13
	VMULPS       Y8, Y10, Y10
	VMULPS       Y8, Y11, Y11
	VMULPS       Y8, Y12, Y12
	VMULPS       Y8, Y13, Y13
	VADDPS       Y10, Y0, Y0
	VADDPS       Y11, Y2, Y2
	VADDPS       Y12, Y4, Y4
	VADDPS       Y13, Y6, Y6
	ADDQ         R9, SI
	ADDQ         R9, BX
	ADDQ         R10, DI
	DECQ         CX
	JNZ          loop8

store8:
	VMOVUPS Y0, (DX)
	VMOVUPS Y2, (DX)(R11*1)
	VMOVUPS Y4, (R12)
	VMOVUPS Y6, (R12)(R11*1)
	VZEROUPPER
	RET

// func adamKern(n int, p, m, v, vmax, grad *float32, k *adamCoef[float32], ams bool)
// k: decay+0 b1+4 b2+8 c1+12 c2+16 stepSize+20 sqrtBC2+24 eps+28
TEXT ·adamKern(SB), NOSPLIT, $0-57
	MOVQ n+0(FP), CX
	MOVQ p+8(FP), DI
	MOVQ m+16(FP), SI
	MOVQ v+24(FP), DX
	MOVQ vmax+32(FP), R8
	MOVQ grad+40(FP), R9
	MOVQ k+48(FP), AX
	MOVB ams+56(FP), BX
	VBROADCASTSS 0(AX), Y8
	VBROADCASTSS 4(AX), Y9
	VBROADCASTSS 8(AX), Y10
	VBROADCASTSS 12(AX), Y11
	VBROADCASTSS 16(AX), Y12
	VBROADCASTSS 20(AX), Y13
	VBROADCASTSS 24(AX), Y14
	VBROADCASTSS 28(AX), Y15
	SHRQ $3, CX
	JZ   adamdone

adamloop:
	VMOVUPS (R9), Y0  // g
	VMOVUPS (DI), Y1  // p
	VMOVUPS (SI), Y2  // m
	VMOVUPS (DX), Y3  // v
	VMULPS  Y8, Y1, Y1   // p·decay
	VMULPS  Y9, Y2, Y2   // b1·m
	VMULPS  Y11, Y0, Y4  // c1·g
	VADDPS  Y4, Y2, Y2   // m
	VMULPS  Y10, Y3, Y3  // b2·v
	VMULPS  Y12, Y0, Y5  // c2·g
	VMULPS  Y0, Y5, Y5   // c2·g·g
	VADDPS  Y5, Y3, Y3   // v
	VMOVUPS Y2, (SI)
	VMOVUPS Y3, (DX)
	VMOVAPS Y3, Y6
	TESTB   BX, BX
	JZ      adamnoams
	VMOVUPS (R8), Y6
	VMAXPS  Y3, Y6, Y6   // vmax > v ? vmax : v
	VMOVUPS Y6, (R8)

adamnoams:
	VSQRTPS Y6, Y7
	VDIVPS  Y14, Y7, Y7  // √v̂ / √bc2
	VADDPS  Y15, Y7, Y7  // + ε
	VMULPS  Y13, Y2, Y4  // stepSize·m
	VDIVPS  Y7, Y4, Y4   // / denom
	VSUBPS  Y4, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, R8
	ADDQ    $32, R9
	DECQ    CX
	JNZ     adamloop

adamdone:
	VZEROUPPER
	RET

// func addTo(n int, dst, src *float32)
TEXT ·addTo(SB), NOSPLIT, $0-24
	MOVQ n+0(FP), CX
	MOVQ dst+8(FP), DI
	MOVQ src+16(FP), SI
	SHRQ $3, CX
	JZ   adddone

addloop:
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	DECQ    CX
	JNZ     addloop

adddone:
	VZEROUPPER
	RET

// func kern4x8m(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int, mask *int32)
// kern4x8 on the first columns of the tile only: mask holds eight int32,
// −1 for a column to compute, 0 for one to leave alone (neither read nor
// written).
TEXT ·kern4x8m(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rsA+16(FP), R8
	SHLQ $2, R8
	MOVQ csA+24(FP), R9
	SHLQ $2, R9
	MOVQ b+32(FP), DI
	MOVQ ldb+40(FP), R10
	SHLQ $2, R10
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R11
	SHLQ $2, R11
	MOVQ mask+64(FP), AX
	VMOVUPS (AX), Y15
	LEAQ (DX)(R11*2), R12
	LEAQ (SI)(R8*2), BX

	VMASKMOVPS (DX), Y15, Y0
	VMASKMOVPS (DX)(R11*1), Y15, Y2
	VMASKMOVPS (R12), Y15, Y4
	VMASKMOVPS (R12)(R11*1), Y15, Y6

	TESTQ CX, CX
	JZ    store8m

loop8m:
	VMASKMOVPS   (DI), Y15, Y8
	VBROADCASTSS (SI), Y10
	VBROADCASTSS (SI)(R8*1), Y11
	VBROADCASTSS (BX), Y12
	VBROADCASTSS (BX)(R8*1), Y13
	VMULPS       Y8, Y10, Y10
	VMULPS       Y8, Y11, Y11
	VMULPS       Y8, Y12, Y12
	VMULPS       Y8, Y13, Y13
	VADDPS       Y10, Y0, Y0
	VADDPS       Y11, Y2, Y2
	VADDPS       Y12, Y4, Y4
	VADDPS       Y13, Y6, Y6
	ADDQ         R9, SI
	ADDQ         R9, BX
	ADDQ         R10, DI
	DECQ         CX
	JNZ          loop8m

store8m:
	VMASKMOVPS Y0, Y15, (DX)
	VMASKMOVPS Y2, Y15, (DX)(R11*1)
	VMASKMOVPS Y4, Y15, (R12)
	VMASKMOVPS Y6, Y15, (R12)(R11*1)
	VZEROUPPER
	RET


// func prefetch(p unsafe.Pointer, lines int)
TEXT ·prefetch(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ lines+8(FP), CX
	TESTQ CX, CX
	JLE   prefetchDone

prefetchLoop:
	PREFETCHT0 (AX)
	ADDQ       $64, AX
	DECQ       CX
	JNZ        prefetchLoop

prefetchDone:
	RET
