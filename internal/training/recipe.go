package training

import (
	"context"
	"fmt"
	"slices"

	"github.com/tinyhead/tinyhead/internal/dataset"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/registry"
)

// The recipe's choices that depend on the task's data: the promotion
// metric, the class weights and a binary task's decision threshold
// (README.md, "The training recipe", has the measurements behind them).

// Promotion records how a new version was compared with the current one.
type Promotion struct {
	// Metric is what the versions were compared by, and MetricReason why
	// it was chosen: the request's, the current version's, or the
	// default for the task's balance.
	Metric       mlp.Metric `json:"metric"`
	MetricReason string     `json:"metric_reason"`
	// Imbalance states the task's balance and the rule applied to it.
	Imbalance string `json:"imbalance"`
	// Score is the new version's Metric on the validation rows; Previous
	// the current version's on the same rows, when one was scored.
	Score    float64  `json:"score"`
	Previous *float64 `json:"previous,omitempty"`
	// Tie: both scored the same (the new version is then promoted: it is
	// not worse, and it has seen the newest data).
	Tie bool `json:"tie,omitempty"`
}

// balance describes the training rows' class balance and the rule.
func balance(ds *dataset.Dataset) (imbalanced bool, why string) {
	rarest := 0
	for k, c := range ds.TrainCounts {
		if c < ds.TrainCounts[rarest] {
			rarest = k
		}
	}
	share, limit := mlp.RarestShare(ds.TrainCounts), mlp.ImbalancedShare(len(ds.Labels))
	imbalanced = mlp.Imbalanced(ds.TrainCounts)
	verdict := "balanced"
	if imbalanced {
		verdict = "imbalanced"
	}
	return imbalanced, fmt.Sprintf("%s: the rarest class %q has %.2f%% of the training rows; a task is imbalanced under 1/(2k) = %.1f%%, and weighted under %g%%",
		verdict, ds.Labels[rarest], 100*share, 100*limit, 100*mlp.WeightedShare)
}

// chooseMetric resolves the promotion metric: the request's, else the
// one the current version recorded (so a nightly retrain compares as the
// task did before), else macro-F1 on an imbalanced task and accuracy
// otherwise.
func chooseMetric(requested string, recorded, curVersion string, ds *dataset.Dataset, imbalanced bool) (mlp.Metric, string, error) {
	if requested != "" {
		m, err := mlp.ParseMetric(requested, ds.Labels)
		return m, "requested", err
	}
	if recorded != "" {
		if m, err := mlp.ParseMetric(recorded, ds.Labels); err == nil {
			return m, fmt.Sprintf("the metric the current version %s was compared by", curVersion), nil
		}
	}
	if imbalanced {
		return mlp.MetricMacroF1, "default for an imbalanced task", nil
	}
	return mlp.MetricAccuracy, "default for a balanced task", nil
}

// withClassWeights resolves cfg.ClassWeight ("" by mlp.NeedsWeights) and
// sets ClassWeights from the training rows' class counts.
func withClassWeights(cfg mlp.Config, ds *dataset.Dataset) mlp.Config {
	if cfg.ClassWeight == "" {
		cfg.ClassWeight = mlp.ClassWeightNone
		if mlp.NeedsWeights(ds.TrainCounts) {
			cfg.ClassWeight = mlp.ClassWeightBalanced
		}
	}
	cfg.ClassWeights = nil
	if cfg.ClassWeight == mlp.ClassWeightBalanced {
		cfg.ClassWeights = mlp.BalancedWeights(ds.TrainCounts)
	}
	return cfg
}

// threshold chooses a binary task's decision threshold on the validation
// probabilities, to maximise metric; nil for other tasks. The positive
// class is the one an "f1:<label>" metric names, else the rarer class.
func threshold(ds *dataset.Dataset, valProbs []float32, metric mlp.Metric) *registry.Threshold {
	if len(ds.Labels) != 2 {
		return nil
	}
	positive := slices.Index(ds.Labels, metric.Positive())
	if positive < 0 {
		positive = 1
		if ds.TrainCounts[0] < ds.TrainCounts[1] {
			positive = 0
		}
	}
	t, _ := mlp.ChooseThreshold(ds.ValY, valProbs, positive, metric, ds.Labels)
	return &registry.Threshold{Label: ds.Labels[positive], Value: t}
}

// assess scores a version's decisions on one held-out side of ds: probs
// are its class probabilities (classes a row, in its own label order),
// decide its decision rule, and mapped the ds class of each of its labels
// (−1 for a label the task no longer has: always an error). The
// probabilities' calibration is scored too when the version's labels are
// the task's.
func assess(ds *dataset.Dataset, side dataset.Side, probs []float32, classes int, decide func([]float32) int, mapped []int32) mlp.Metrics {
	y := ds.Y(side)
	pred := make([]int32, len(y))
	same := len(mapped) == len(ds.Labels)
	for i := range pred {
		pred[i] = mapped[decide(probs[i*classes:(i+1)*classes])]
	}
	for k, c := range mapped {
		same = same && int(c) == k
	}
	mt := mlp.Assess(y, pred, len(ds.Labels), ds.Labels)
	if same {
		mt.LogLoss, mt.Brier = mlp.Calibration(y, probs, classes)
	}
	return mt
}

// versionScores are a version's scores on ds's held-out rows.
type versionScores struct {
	val  mlp.Metrics
	test *mlp.Metrics // nil without test rows
}

// scoreHeldOut runs predict on the validation and test rows of ds and
// scores the decisions of man (whose Labels are the version's) there.
// valProbs are the validation probabilities, if already computed.
func scoreHeldOut(ctx context.Context, ds *dataset.Dataset, data dataset.Source, man *registry.Manifest,
	predict dataset.Predict, valProbs []float32) (versionScores, error) {
	classes := len(man.Labels)
	mapped := make([]int32, classes)
	for i, l := range man.Labels {
		if y, ok := ds.LabelIndex(l); ok {
			mapped[i] = y
		} else {
			mapped[i] = -1
		}
	}
	var out versionScores
	if valProbs == nil {
		var err error
		if valProbs, err = ds.ProbabilitiesOf(ctx, data, dataset.Validation, man.EmbeddingModel, man.EmbeddingDim, classes, predict); err != nil {
			return out, err
		}
	}
	out.val = assess(ds, dataset.Validation, valProbs, classes, man.Decide, mapped)
	if ds.TestRows > 0 {
		testProbs, err := ds.ProbabilitiesOf(ctx, data, dataset.Test, man.EmbeddingModel, man.EmbeddingDim, classes, predict)
		if err != nil {
			return out, err
		}
		mt := assess(ds, dataset.Test, testProbs, classes, man.Decide, mapped)
		out.test = &mt
	}
	return out, nil
}
