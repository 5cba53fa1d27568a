package mlp

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// gemmFor is the trainer's product in precision T: the kernels (gemmAcc32)
// in float32, gonum's Dgemm in float64. The float64 trainer exists for
// tests and benchmarks only (TestTorchReference, TestGradient,
// BenchmarkPrecision), so gonum's BLAS is linked into tests only.
func gemmFor[T float32 | float64]() gemmFunc[T] {
	var f any = gemmAcc32
	if _, ok := any(T(0)).(float64); ok {
		f = dgemmAcc
	}
	return f.(gemmFunc[T])
}

// Tiles of C no larger than this keep gonum under its threshold for
// going parallel (4 blocks of 64×64), where each call would start
// goroutines and allocate; the trainer parallelises by shards instead.
const (
	tileRows = 64
	tileCols = 3 * 64
)

// dgemmAcc is gemmAcc32's C += A·B in float64, computed by gonum's serial
// Dgemm tile by tile, with A read through its transpose when its columns
// are the contiguous ones.
func dgemmAcc(m, n, k int, a []float64, rsA, csA int, b []float64, ldb int, c []float64, ldc int) {
	var impl gonum.Implementation
	tA, lda := blas.NoTrans, rsA
	if csA != 1 {
		tA, lda = blas.Trans, csA
	}
	for i := 0; i < m; i += tileRows {
		mi := min(tileRows, m-i)
		ai := a[i*lda:]
		if tA == blas.Trans {
			ai = a[i:]
		}
		for j := 0; j < n; j += tileCols {
			nj := min(tileCols, n-j)
			impl.Dgemm(tA, blas.NoTrans, mi, nj, k, 1, ai, lda, b[j:], ldb, 1, c[i*ldc+j:], ldc)
		}
	}
}
