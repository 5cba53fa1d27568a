package mlp

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseMetric(t *testing.T) {
	labels := []string{"ham", "spam"}
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "accuracy", want: "accuracy"},
		{in: "macro_f1", want: "macro_f1"},
		{in: "f1:spam", want: "f1:spam"},
		{in: "f1:eggs", err: `names label "eggs", which the task does not have`},
		{in: "f1:", err: `names label ""`},
		{in: "F1", err: `metric must be`},
		{in: "", err: `metric must be`},
	} {
		got, err := ParseMetric(tc.in, labels)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseMetric(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("ParseMetric(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestImbalancedRule(t *testing.T) {
	for _, tc := range []struct {
		counts []int
		want   bool
	}{
		{[]int{50, 50}, false},
		{[]int{74, 26}, false},
		{[]int{76, 24}, true}, // under a quarter of a binary task
		{[]int{96, 4}, true},
		{[]int{30, 30, 20, 11, 9}, true}, // under a tenth of five classes
		{[]int{30, 30, 20, 10, 10}, false},
	} {
		if got := Imbalanced(tc.counts); got != tc.want {
			t.Errorf("Imbalanced(%v) = %v (rarest share %.3f)", tc.counts, got, RarestShare(tc.counts))
		}
	}
	for _, tc := range []struct {
		counts []int
		want   bool
	}{
		{[]int{99, 1}, false},
		{[]int{991, 9}, true},
		{[]int{500, 495, 5}, true},
	} {
		if got := NeedsWeights(tc.counts); got != tc.want {
			t.Errorf("NeedsWeights(%v) = %v", tc.counts, got)
		}
	}
	w := BalancedWeights([]int{90, 10})
	if math.Abs(w[0]-100.0/180) > 1e-12 || math.Abs(w[1]-5) > 1e-12 {
		t.Errorf("BalancedWeights(90, 10) = %v, want [0.556 5]", w)
	}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		probs     []float32
		positive  int
		threshold float64
		want      int
	}{
		{[]float32{0.7, 0.3}, -1, 0, 0},
		{[]float32{0.7, 0.3}, 1, 0.25, 1},
		{[]float32{0.7, 0.3}, 1, 0.3, 1}, // at the threshold: positive
		{[]float32{0.7, 0.3}, 1, 0.31, 0},
		{[]float32{0.2, 0.8}, 0, 0.1, 0},
		{[]float32{0.2, 0.5, 0.3}, 0, 0.1, 1}, // no threshold on three classes
	} {
		if got := Decide(tc.probs, tc.positive, tc.threshold); got != tc.want {
			t.Errorf("Decide(%v, %d, %g) = %d, want %d", tc.probs, tc.positive, tc.threshold, got, tc.want)
		}
	}
}

// TestChooseThreshold: the sweep finds the best score a brute-force search
// over every candidate finds, scored by Assess (or keeps 0.5 when that
// gains less than ThresholdMargin), and its threshold gives that score.
func TestChooseThreshold(t *testing.T) {
	labels := []string{"a", "b"}
	rng := rand.New(rand.NewPCG(1, 2))
	moved := 0
	for trial := range 30 {
		n := 5 + rng.IntN(200)
		y := make([]int32, n)
		probs := make([]float32, 2*n)
		for i := range y {
			if rng.Float64() < 0.2 {
				y[i] = 1
			}
			p := float32(math.Round(rng.Float64()*20) / 20) // ties on purpose
			if y[i] == 1 {
				p = min(1, p+0.2)
			}
			probs[2*i], probs[2*i+1] = 1-p, p
		}
		for _, metric := range []Metric{MetricAccuracy, MetricMacroF1, "f1:b", "f1:a"} {
			positive := 1
			if metric == "f1:a" {
				positive = 0
			}
			scoreAt := func(th float64) float64 {
				pred := make([]int32, n)
				for i := range pred {
					pred[i] = int32(Decide(probs[2*i:2*i+2], positive, th))
				}
				return metric.Score(Assess(y, pred, 2, labels), labels)
			}
			// Every split of the rows by probability: at each row's
			// probability (≥ takes it in), and above them all if a
			// threshold (at most 1) can be.
			best, top := scoreAt(0.5), 0.0
			for i := range n {
				p := float64(probs[2*i+positive])
				best, top = max(best, scoreAt(p)), max(top, p)
			}
			if top < 1 {
				best = max(best, scoreAt(1))
			}
			if best-scoreAt(0.5) < ThresholdMargin {
				best = scoreAt(0.5) // not worth moving
			}
			th, score := ChooseThreshold(y, probs, positive, metric, labels)
			if math.Abs(score-best) > 1e-12 || math.Abs(scoreAt(th)-score) > 1e-12 {
				t.Fatalf("trial %d, %s: threshold %g scores %g (%g by Assess); brute force finds %g", trial, metric, th, score, scoreAt(th), best)
			}
			if th != 0.5 {
				moved++
			}
		}
	}
	if moved < 10 {
		t.Errorf("only %d of 120 thresholds moved from 0.5: the test hardly checks the sweep", moved)
	}
	// Scores that do not depend on the threshold keep 0.5.
	if th, _ := ChooseThreshold([]int32{0, 1}, []float32{0.9, 0.1, 0.1, 0.9}, 1, MetricAccuracy, labels); th != 0.5 {
		t.Errorf("separable rows: threshold %g, want 0.5 (nearest of the best)", th)
	}
}

func TestCalibration(t *testing.T) {
	y := []int32{0, 1}
	probs := []float32{0.8, 0.2, 0.4, 0.6}
	ll, brier := Calibration(y, probs, 2)
	wantLL := -(math.Log(0.8) + math.Log(0.6)) / 2
	wantBrier := (0.04 + 0.04 + 0.16 + 0.16) / 2
	if math.Abs(ll-wantLL) > 1e-6 || math.Abs(brier-wantBrier) > 1e-6 {
		t.Errorf("Calibration = %g, %g; want %g, %g", ll, brier, wantLL, wantBrier)
	}
}

// TestClassWeightsAsRepeats: a weighted step is an unweighted step on the
// batch with each row repeated its class weight times (integer weights),
// which is what PyTorch's weighted cross-entropy (Σ w·loss / Σ w) means.
func TestClassWeightsAsRepeats(t *testing.T) {
	const dim, classes = 6, 3
	weights := []float64{1, 3, 2}
	rng := rand.New(rand.NewPCG(4, 5))
	var x, xr []float32
	var y, yr []int32
	for i := range 40 {
		row := make([]float32, dim)
		for j := range row {
			row[j] = float32(rng.NormFloat64())
		}
		c := int32(i % classes)
		x, y = append(x, row...), append(y, c)
		for range int(weights[c]) {
			xr, yr = append(xr, row...), append(yr, c)
		}
	}
	cfg := Config{Hidden: 4, Steps: 3, BatchSize: len(yr)}.WithDefaults(classes)
	step := func(cfg Config, x []float32, y []int32) ([]float64, float64) {
		tr := newTrainer(cfg, dim, classes, 1, gemmFor[float64]())
		defer tr.stop()
		var loss float64
		for s := range cfg.Steps {
			copy(tr.x, x)
			copy(tr.y, y)
			loss = tr.step(len(y), cfg.rate(s))
		}
		return tr.torchParams(), loss
	}
	wcfg := cfg
	wcfg.ClassWeights = weights
	got, gotLoss := step(wcfg, x, y)
	want, wantLoss := step(cfg, xr, yr)
	if !near(gotLoss, wantLoss, 1e-12) {
		t.Errorf("weighted loss %.15g, repeated rows %.15g", gotLoss, wantLoss)
	}
	for i := range want {
		if !near(got[i], want[i], 1e-10) {
			t.Fatalf("parameter %d: weighted %.15g, repeated rows %.15g", i, got[i], want[i])
		}
	}
}
