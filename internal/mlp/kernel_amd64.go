//go:build !noasm

package mlp

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useAVX2 selects the AVX2 kernels (which need AVX2 and the OS's support
// for the YMM registers, both of which cpu.X86.HasAVX2 checks).
var useAVX2 = cpu.X86.HasAVX2

// kern4x16 is C += A·B for a 4×16 tile of C: see gemmAcc32. Strides are
// in elements.
//
//go:noescape
func kern4x16(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int)

// kern4x8 is kern4x16 for a 4×8 tile.
//
//go:noescape
func kern4x8(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int)

// adamKern is adamW.update's inner loop over n parameters (a multiple of
// 8), eight at a time, with the same roundings in the same order: see
// adamW.update. k points at an adamCoef[float32].
//
//go:noescape
func adamKern(n int, p, m, v, vmax, grad *float32, k *adamCoef[float32], ams bool)

// addTo is dst[i] += src[i] for n values (a multiple of 8).
//
//go:noescape
func addTo(n int, dst, src *float32)

// kern4x8m is kern4x8 on the columns whose mask is −1 (see maskFor).
//
//go:noescape
func kern4x8m(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int, mask *int32)

// prefetch asks the CPU to load the given number of 64-byte cache lines
// from p on into its caches, ahead of their use (a hint: any address is
// allowed, none is read). The trainer's rows are read at random places,
// so each row's first lines would otherwise be a wait on memory.
//
//go:noescape
func prefetch(p unsafe.Pointer, lines int)
