package mlp

import (
	"context"
	"fmt"
	"math"
)

// Scaler standardises inputs feature by feature: (x − Mean) / Std.
//
// Sentence embeddings are unit vectors whose 512 components are tiny
// (about 0.04) and unevenly spread; trained on them as they are, the
// default recipe's 1000 steps at lr 1e-3 underfit (SpamAssassin spam/ham:
// 95.6% validation accuracy). Standardised, the same recipe reaches 97–98%.
// Training fits a Scaler on its training rows, trains on scaled batches
// (ScaleBatches), and folds the Scaler into the first layer (Model.Fold),
// so the exported model takes raw embeddings and its graph is unchanged.
type Scaler struct {
	Mean []float32 `json:"mean"`
	Std  []float32 `json:"std"`
}

// ScalerFit accumulates a Scaler from rows streamed through Add, in
// float64, so a table larger than memory can be fitted in one pass.
type ScalerFit struct {
	dim        int
	n          int
	sum, sumSq []float64
}

// NewScalerFit starts a fit over dim-wide rows.
func NewScalerFit(dim int) *ScalerFit {
	return &ScalerFit{dim: dim, sum: make([]float64, dim), sumSq: make([]float64, dim)}
}

// Add accumulates rows (a multiple of dim values, row-major).
func (f *ScalerFit) Add(rows []float32) {
	for i := 0; i+f.dim <= len(rows); i += f.dim {
		for j, v := range rows[i : i+f.dim] {
			f.sum[j] += float64(v)
			f.sumSq[j] += float64(float64(v) * float64(v)) // rounded: never fused
		}
		f.n++
	}
}

// minStd keeps a (nearly) constant feature from being blown up: it is
// centred but not scaled.
const minStd = 1e-6

// Scaler returns the fitted Scaler (the identity if no rows were added).
func (f *ScalerFit) Scaler() Scaler {
	s := Scaler{Mean: make([]float32, f.dim), Std: make([]float32, f.dim)}
	for j := range s.Std {
		s.Std[j] = 1
		if f.n == 0 {
			continue
		}
		mean := f.sum[j] / float64(f.n)
		sd := math.Sqrt(max(f.sumSq[j]/float64(f.n)-mean*mean, 0))
		s.Mean[j] = float32(mean)
		if sd >= minStd {
			s.Std[j] = float32(sd)
		}
	}
	return s
}

// FitScaler fits a Scaler on the rows of x.
func FitScaler(x []float32, dim int) Scaler {
	f := NewScalerFit(dim)
	f.Add(x)
	return f.Scaler()
}

// Apply standardises rows of x in place.
func (s Scaler) Apply(x []float32) {
	dim := len(s.Mean)
	for i := 0; i+dim <= len(x); i += dim {
		row := x[i : i+dim]
		for j := range row {
			row[j] = (row[j] - s.Mean[j]) / s.Std[j]
		}
	}
}

// ScaleBatches serves src's batches standardised by s.
func ScaleBatches(src Batches, s Scaler) Batches { return scaledBatches{src, s} }

type scaledBatches struct {
	src Batches
	s   Scaler
}

func (b scaledBatches) Next(ctx context.Context, x []float32, y []int32) (int, error) {
	n, err := b.src.Next(ctx, x, y)
	if err == nil {
		b.s.Apply(x[:n*len(b.s.Mean)])
	}
	return n, err
}

// Fold makes a model trained on standardised inputs take raw ones:
// W1·((x−μ)/σ) + b1 = (W1/σ)·x + (b1 − (W1/σ)·μ).
func (m *Model) Fold(s Scaler) error {
	if len(s.Mean) != m.Dim || len(s.Std) != m.Dim {
		return fmt.Errorf("mlp: a %d-d scaler for a %d-d model", len(s.Mean), m.Dim)
	}
	for h := range m.Hidden {
		w := m.W1[h*m.Dim : (h+1)*m.Dim]
		var shift float64
		for j := range w {
			w[j] /= s.Std[j]
			shift += float64(w[j]) * float64(s.Mean[j])
		}
		m.B1[h] -= float32(shift)
	}
	return nil
}
