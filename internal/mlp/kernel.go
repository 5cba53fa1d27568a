package mlp

// The trainer's matrix products, C += A·B, go through gemmAcc: A is m×k
// with arbitrary row and column strides (so that a transposed operand
// needs no copy), B is k×n row-major, C is m×n row-major.
//
// Every element of C is computed the same way on every path: starting
// from its value in C, the products A(r,p)·B(p,j) are rounded to float32
// and added one at a time, p = 0, 1, …, k−1, with no fused multiply-add.
// The AVX2 kernels (amd64, where the CPU has AVX2) compute tiles of four
// rows of C that way, eight columns per instruction (fewer, masked, at the
// right edge); the portable loop computes the last rows when m is not a
// multiple of 4, and the whole product elsewhere. So which path runs,
// and how C is cut into tiles, never changes a bit of the result: training
// is bit-identical on every machine and core count.

// gemmAcc32 is C += A·B in float32, with A(r,p) = a[r*rsA+p*csA],
// B(p,j) = b[p*ldb+j] and C(r,j) = c[r*ldc+j].
func gemmAcc32(m, n, k int, a []float32, rsA, csA int, b []float32, ldb int, c []float32, ldc int) {
	if m <= 0 || n <= 0 || k <= 0 {
		return
	}
	// Bounds: the kernels read and write without checks.
	if last := (m-1)*rsA + (k-1)*csA; last >= len(a) || rsA < 0 || csA < 0 {
		panic("mlp: gemmAcc32: A out of range")
	}
	if (k-1)*ldb+n > len(b) || (m-1)*ldc+n > len(c) || ldb < n || ldc < n {
		panic("mlp: gemmAcc32: B or C out of range")
	}
	r := 0
	if useAVX2 {
		for ; r+4 <= m; r += 4 {
			ar := a[r*rsA:]
			cr := c[r*ldc:]
			j := 0
			for ; j+16 <= n; j += 16 {
				kern4x16(k, &ar[0], rsA, csA, &b[j], ldb, &cr[j], ldc)
			}
			if j+8 <= n {
				kern4x8(k, &ar[0], rsA, csA, &b[j], ldb, &cr[j], ldc)
				j += 8
			}
			if j < n {
				kern4x8m(k, &ar[0], rsA, csA, &b[j], ldb, &cr[j], ldc, maskFor(n-j))
			}
		}
	}
	if r < m {
		gemmAccGo(m-r, n, k, a[r*rsA:], rsA, csA, b, ldb, c[r*ldc:], ldc)
	}
}

// gemmAccGo is gemmAcc32's portable loop (any precision): p outermost, so
// that the additions into a row of C are independent of each other.
func gemmAccGo[T float32 | float64](m, n, k int, a []T, rsA, csA int, b []T, ldb int, c []T, ldc int) {
	for r := range m {
		cr := c[r*ldc : r*ldc+n]
		for p := range k {
			arp := a[r*rsA+p*csA]
			bp := b[p*ldb : p*ldb+n]
			for j, v := range bp {
				cr[j] += T(arp * v) // T(…) rounds the product: no fused multiply-add
			}
		}
	}
}

// masks: maskFor(n) is eight int32 of which the first n are −1.
var masks = [16]int32{-1, -1, -1, -1, -1, -1, -1, -1}

func maskFor(n int) *int32 { return &masks[8-n] }
