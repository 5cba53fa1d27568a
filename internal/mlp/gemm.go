package mlp

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// matmul calls gonum's native Sgemm or Dgemm (the float64 trainer's
// products; float32 has its own kernels, see gemmAcc32).
type matmul[T float32 | float64] struct {
	f func(tA, tB blas.Transpose, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)
}

func newMatmul[T float32 | float64]() matmul[T] {
	var impl gonum.Implementation
	var f any
	switch any(T(0)).(type) {
	case float32:
		f = impl.Sgemm
	case float64:
		f = impl.Dgemm
	}
	return matmul[T]{f: f.(func(blas.Transpose, blas.Transpose, int, int, int, T, []T, int, []T, int, T, []T, int))}
}

// Tiles of C no larger than this keep gonum under its threshold for
// going parallel (4 blocks of 64×64), where each call would start
// goroutines and allocate; the trainer parallelises by shards instead.
const (
	tileRows = 64
	tileCols = 3 * 64
)

// gemm is C = alpha·op(A)·op(B) + beta·C, row-major, with op(A) m×k and
// op(B) k×n, computed tile by tile on gonum's serial path.
func (mm matmul[T]) gemm(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	tA, tB := blas.NoTrans, blas.NoTrans
	if transA {
		tA = blas.Trans
	}
	if transB {
		tB = blas.Trans
	}
	for i := 0; i < m; i += tileRows {
		mi := min(tileRows, m-i)
		var ai []T
		if transA {
			ai = a[i:]
		} else {
			ai = a[i*lda:]
		}
		for j := 0; j < n; j += tileCols {
			nj := min(tileCols, n-j)
			var bj []T
			if transB {
				bj = b[j*ldb:]
			} else {
				bj = b[j:]
			}
			mm.f(tA, tB, mi, nj, k, alpha, ai, lda, bj, ldb, beta, c[i*ldc+j:], ldc)
		}
	}
}
