//go:build !amd64 || noasm

package mlp

import "unsafe"

// Without the kernels (another architecture, or the noasm build tag, as
// gonum has it) the portable loops compute everything, to the same bits.
const useAVX2 = false

func kern4x16(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int) {
	panic("mlp: no AVX2 kernel")
}

func kern4x8(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int) {
	panic("mlp: no AVX2 kernel")
}

func adamKern(n int, p, m, v, vmax, grad *float32, k *adamCoef[float32], ams bool) {
	panic("mlp: no AVX2 kernel")
}

func addTo(n int, dst, src *float32) {
	panic("mlp: no AVX2 kernel")
}

func kern4x8m(k int, a *float32, rsA, csA int, b *float32, ldb int, c *float32, ldc int, mask *int32) {
	panic("mlp: no AVX2 kernel")
}

// prefetch is a hint the portable loops do without.
func prefetch(p unsafe.Pointer, lines int) {}
