package mlp

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestGemmAcc checks gemmAcc32 (the AVX2 kernels where the CPU has them)
// against the portable loop bit for bit, over shapes that exercise every
// tile and edge, with transposed and strided operands.
func TestGemmAcc(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	for _, m := range []int{1, 3, 4, 5, 8, 13, 64} {
		for _, n := range []int{1, 7, 8, 9, 16, 17, 24, 40, 512} {
			for _, k := range []int{1, 2, 10, 64, 512} {
				for _, trans := range []bool{false, true} {
					rsA, csA := k+3, 1 // A row-major with padding
					if trans {
						rsA, csA = 1, m+2 // A stored transposed (k×m, padded)
					}
					a := fill((m-1)*rsA + (k-1)*csA + 1)
					ldb, ldc := n+1, n+5
					b := fill((k-1)*ldb + n)
					c0 := fill((m-1)*ldc + n)
					got, want := slices.Clone(c0), slices.Clone(c0)
					gemmAcc32(m, n, k, a, rsA, csA, b, ldb, got, ldc)
					gemmAccGo(m, n, k, a, rsA, csA, b, ldb, want, ldc)
					if !slices.Equal(got, want) {
						t.Fatalf("m=%d n=%d k=%d transposed A=%v: results differ", m, n, k, trans)
					}
					// The padding between rows of C is untouched.
					for r := range m - 1 {
						for j := n; j < ldc; j++ {
							if got[r*ldc+j] != c0[r*ldc+j] {
								t.Fatalf("m=%d n=%d k=%d: wrote C(%d,%d) outside the product", m, n, k, r, j)
							}
						}
					}
				}
			}
		}
	}
	if !useAVX2 {
		t.Log("no AVX2 here: only the portable loop ran")
	}
}

func BenchmarkGemmAcc(b *testing.B) {
	// The trainer's two large products for a shard of 64 rows, 512-d
	// inputs and 16 hidden units: forward (x·W1ᵀ) and backward (xᵀ·dact).
	const rows, dim, hidden = 64, 512, 16
	x := make([]float32, rows*dim)
	w := make([]float32, dim*hidden)
	hid := make([]float32, rows*hidden)
	g := make([]float32, dim*hidden)
	for i := range x {
		x[i] = float32(i%13) * 0.01
	}
	for i := range w {
		w[i] = float32(i%7) * 0.01
	}
	flops := func(b *testing.B) {
		b.ReportMetric(2*rows*dim*hidden*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			gemmAcc32(rows, hidden, dim, x, dim, 1, w, hidden, hid, hidden)
		}
		flops(b)
	})
	b.Run("backward", func(b *testing.B) {
		for b.Loop() {
			gemmAcc32(dim, hidden, rows, x, 1, dim, hid, hidden, g, hidden)
		}
		flops(b)
	})
	b.Run("forward/portable", func(b *testing.B) {
		for b.Loop() {
			gemmAccGo(rows, hidden, dim, x, dim, 1, w, hidden, hid, hidden)
		}
		flops(b)
	})
}
