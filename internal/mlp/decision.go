package mlp

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Metric is what promotion compares versions by: "accuracy", "macro_f1",
// or "f1:<label>", the F1 of one (positive) class.
type Metric string

// The metrics without a label.
const (
	MetricAccuracy Metric = "accuracy"
	MetricMacroF1  Metric = "macro_f1"
	metricF1Prefix        = "f1:"
)

// ParseMetric checks a metric against the task's labels.
func ParseMetric(s string, labels []string) (Metric, error) {
	switch m := Metric(s); {
	case m == MetricAccuracy, m == MetricMacroF1:
		return m, nil
	case strings.HasPrefix(s, metricF1Prefix):
		label := strings.TrimPrefix(s, metricF1Prefix)
		if !slices.Contains(labels, label) {
			return "", fmt.Errorf("metric %q names label %q, which the task does not have (labels: %s)", s, label, strings.Join(labels, ", "))
		}
		return m, nil
	}
	return "", fmt.Errorf("metric must be %q, %q or \"f1:<label>\", not %q", MetricAccuracy, MetricMacroF1, s)
}

// Positive is the label an "f1:<label>" metric is about, or "".
func (m Metric) Positive() string {
	label, _ := strings.CutPrefix(string(m), metricF1Prefix)
	if label == string(m) {
		return ""
	}
	return label
}

// Score is the metric's value in mt, whose classes are named labels.
// A positive label the metric names but labels lack scores 0.
func (m Metric) Score(mt Metrics, labels []string) float64 {
	switch m {
	case MetricAccuracy:
		return mt.Accuracy
	case MetricMacroF1:
		return mt.MacroF1
	}
	if k := slices.Index(labels, m.Positive()); k >= 0 && k < len(mt.PerClass) {
		return mt.PerClass[k].F1
	}
	return 0
}

// ImbalancedShare is the rule for imbalanced tasks: a task is imbalanced
// when its rarest class has less than half of an equal share of the rows,
// 1/(2k) of them for k classes (25% of a binary task, 10% of five classes).
// On such tasks the recipe promotes by macro-F1 rather than accuracy:
// always answering the majority class scores high accuracy there.
// README.md, "The training recipe", has the measurements behind it.
func ImbalancedShare(classes int) float64 { return 1 / (2 * float64(classes)) }

// WeightedShare is the rule for class weights: the recipe trains with
// balanced class weights when the rarest class has under 1% of the
// training rows. Measured on SpamAssassin (README.md, "The training
// recipe"), balanced weights cost macro-F1 and calibration at every share
// from 31% down to 1%, whether or not a threshold follows; only under 1%
// does the unweighted head stop finding the rare class.
const WeightedShare = 0.01

// NeedsWeights applies the WeightedShare rule to per-class row counts.
func NeedsWeights(counts []int) bool {
	return RarestShare(counts) < WeightedShare
}

// RarestShare is the share of the rarest class among counts.
func RarestShare(counts []int) float64 {
	total, least := 0, math.MaxInt
	for _, c := range counts {
		total += c
		least = min(least, c)
	}
	if total == 0 {
		return 0
	}
	return float64(least) / float64(total)
}

// Imbalanced applies the ImbalancedShare rule to per-class row counts.
func Imbalanced(counts []int) bool {
	return RarestShare(counts) < ImbalancedShare(len(counts))
}

// BalancedWeights are scikit-learn's "balanced" class weights,
// n/(k·n_c): every class weighs as much in the loss as any other. A class
// without rows gets weight 1.
func BalancedWeights(counts []int) []float64 {
	total := 0
	for _, c := range counts {
		total += c
	}
	w := make([]float64, len(counts))
	for k, c := range counts {
		w[k] = 1
		if c > 0 {
			w[k] = float64(total) / (float64(len(counts)) * float64(c))
		}
	}
	return w
}

// Decide is the class of one row of class probabilities: the most
// probable class or, when positive ≥ 0 (a binary task with a threshold),
// positive exactly when its probability reaches threshold, the other class
// otherwise. It is the one decision rule of training, serving and batch
// scoring (through registry.Manifest.Decide).
func Decide(probs []float32, positive int, threshold float64) int {
	if positive < 0 || len(probs) != 2 {
		return Argmax(probs)
	}
	if float64(probs[positive]) >= threshold {
		return positive
	}
	return 1 - positive
}

// ThresholdMargin is how much a threshold must gain over 0.5, in the
// promotion metric on the validation rows, to replace it. Without it the
// threshold chases noise: on SpamAssassin (README.md, "Why the recipe
// chooses what it does"), cross-fitted thresholds lost 0.1 to 1.5
// macro-F1 points against 0.5 on tasks the head already separates; with
// it they lose nothing on two of those tasks and less on the others, and
// keep the 8 points they gain where the argmax misses the rare class.
const ThresholdMargin = 0.02

// ChooseThreshold picks the threshold on the positive class's
// probability that maximises metric on a binary task's rows (y, and probs
// two per row), and returns it with its score; 0.5 stays unless the best
// gains ThresholdMargin over it. The candidates are 0.5, the midpoints
// between consecutive distinct probabilities, and one above them all; of
// equal scores, the one nearest 0.5 wins. One sort and one sweep:
// O(n log n).
func ChooseThreshold(y []int32, probs []float32, positive int, metric Metric, labels []string) (threshold, score float64) {
	type row struct {
		p   float64
		pos bool
	}
	rows := make([]row, len(y))
	positives := 0
	for i, c := range y {
		rows[i] = row{float64(probs[2*i+positive]), int(c) == positive}
		if rows[i].pos {
			positives++
		}
	}
	slices.SortFunc(rows, func(a, b row) int { return -cmpFloat(a.p, b.p) })
	negatives := len(rows) - positives
	scoreAt := func(tp, fp int) float64 {
		return binaryScore(metric, labels, positive, tp, fp, positives-tp, negatives-fp)
	}
	// At 0.5: count the rows at or above it.
	tp, fp := 0, 0
	for _, r := range rows {
		if r.p < 0.5 {
			break
		}
		if r.pos {
			tp++
		} else {
			fp++
		}
	}
	threshold, score = 0.5, scoreAt(tp, fp)
	half := score
	consider := func(t, s float64) {
		if s > score || s == score && math.Abs(t-0.5) < math.Abs(threshold-0.5) {
			threshold, score = t, s
		}
	}
	if len(rows) > 0 && rows[0].p < 1 {
		consider((rows[0].p+1)/2, scoreAt(0, 0)) // no row positive
	}
	tp, fp = 0, 0
	for i, r := range rows {
		if r.pos {
			tp++
		} else {
			fp++
		}
		// The cut after row i predicts rows 0..i positive; it exists only
		// between distinct probabilities.
		if i+1 < len(rows) && rows[i+1].p == r.p {
			continue
		}
		t := r.p / 2
		if i+1 < len(rows) {
			t = (r.p + rows[i+1].p) / 2
		}
		consider(t, scoreAt(tp, fp))
	}
	if score-half < ThresholdMargin {
		return 0.5, half
	}
	return threshold, score
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// binaryScore is metric on a binary confusion matrix, the positive class
// being class positive: as Assess and Metric.Score compute it.
func binaryScore(metric Metric, labels []string, positive, tp, fp, fn, tn int) float64 {
	n := tp + fp + fn + tn
	f1 := func(tp, fp, fn int) float64 {
		if tp == 0 {
			return 0
		}
		return 2 * float64(tp) / float64(2*tp+fp+fn)
	}
	switch metric {
	case MetricAccuracy:
		if n == 0 {
			return 0
		}
		return float64(tp+tn) / float64(n)
	case MetricMacroF1:
		// Classes that occur in neither the labels nor the predictions do
		// not count, as in Assess.
		sum, present := 0.0, 0
		if tp+fp+fn > 0 {
			sum += f1(tp, fp, fn)
			present++
		}
		if tn+fn+fp > 0 {
			sum += f1(tn, fn, fp)
			present++
		}
		if present == 0 {
			return 0
		}
		return sum / float64(present)
	}
	switch k := slices.Index(labels, metric.Positive()); k {
	case positive:
		return f1(tp, fp, fn)
	case 1 - positive:
		return f1(tn, fn, fp)
	}
	return 0
}

// Calibration scores probabilities against true classes: the log-loss
// (mean −ln p of the true class, p floored at 1e-15 as scikit-learn does)
// and the Brier score (mean over rows of Σ_k (p_k − [y = k])², Brier's own
// multi-class form: for a binary task, twice scikit-learn's
// brier_score_loss).
func Calibration(y []int32, probs []float32, classes int) (logLoss, brier float64) {
	if len(y) == 0 {
		return 0, 0
	}
	for i, c := range y {
		row := probs[i*classes : (i+1)*classes]
		logLoss -= math.Log(max(float64(row[c]), 1e-15))
		for k, p := range row {
			d := float64(p)
			if k == int(c) {
				d--
			}
			brier += d * d
		}
	}
	n := float64(len(y))
	return logLoss / n, brier / n
}
