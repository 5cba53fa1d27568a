package training

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/dataset"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/onnxembed"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// BenchmarkRecipeChoices measures the recipe's data-dependent choices on
// the local run's database (scripts/run-local.sh: SpamAssassin) — the
// numbers README.md ("The training recipe") quotes:
//
//	TINYHEAD_BENCH_DB=$PWD/.cache/local/tinyhead.db go test -run XXX -bench RecipeChoices -benchtime 1x ./internal/training/
//
// Tasks: "spam" (spam/ham), "group" (the five folders) and "hardham", built
// here from "group": hard-ham-1 against the rest (about 4% positives), and
// "hardham-2" and "hardham-4", the same with every second or fourth
// hard-ham-1 row only (about 2% and 1% positives). For
// each class weighting (none, balanced) and decision (argmax, a threshold
// chosen for the task's default metric) it trains seeds 0–2 and reports
// the mean validation accuracy, macro-F1, the rarest class's F1, log-loss
// and Brier score. The threshold is cross-fitted, so that it is never
// scored on the rows it was chosen on: the validation rows are cut in two
// halves (alternate rows), each half decided by the threshold chosen on the
// other. "dup-val-rows" counts validation rows whose exact text is also a
// training row under the (source, item) split: the leak a split by group
// (here: identical texts in one group) removes.
func BenchmarkRecipeChoices(b *testing.B) {
	store, tasks := openBenchDB(b)
	var src dataset.Source = store
	for _, sum := range tasks {
		if sum.Task == "group" {
			src = hardHam{store}
			for _, keep := range []int{1, 2, 4, 8, 16} {
				tasks = append(tasks, hardHamSummary(sum, keep))
			}
		}
	}
	ctx := context.Background()
	for _, sum := range tasks {
		ds, err := dataset.Load(ctx, src, sum, dataset.Options{Model: onnxembed.USELiteID, Dim: 512, ValFraction: 0.2})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(sum.Task+"/split", func(b *testing.B) {
			for b.Loop() {
				dup, err := duplicatesAcrossSplit(ctx, store, src, sum)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(dup), "dup-val-rows")
				b.ReportMetric(float64(ds.ValRows), "val-rows")
				b.ReportMetric(100*mlp.RarestShare(ds.TrainCounts), "rarest-%")
			}
		})
		imbalanced, _ := balance(ds)
		metric, _, _ := chooseMetric("", "", "", ds, imbalanced)
		for _, weight := range []string{mlp.ClassWeightNone, mlp.ClassWeightBalanced} {
			for _, decision := range []string{"argmax", "threshold"} {
				if decision == "threshold" && len(ds.Labels) != 2 {
					continue
				}
				b.Run(fmt.Sprintf("%s/weights=%s/%s", sum.Task, weight, decision), func(b *testing.B) {
					for b.Loop() {
						var acc, f1, rare, ll, brier, secs float64
						const seeds = 3
						for seed := range uint64(seeds) {
							ds, err := dataset.Load(ctx, src, sum, dataset.Options{Model: onnxembed.USELiteID, Dim: 512, ValFraction: 0.2})
							if err != nil {
								b.Fatal(err)
							}
							cfg := withClassWeights(mlp.Config{ClassWeight: weight, Seed: seed}.WithDefaults(len(ds.Labels)), ds)
							mt, took, err := trainAndScore(ctx, ds, src, cfg, metric, decision == "threshold")
							if err != nil {
								b.Fatal(err)
							}
							acc += mt.Accuracy / seeds
							f1 += mt.MacroF1 / seeds
							rare += mt.PerClass[rarestClass(ds)].F1 / seeds
							ll += mt.LogLoss / seeds
							brier += mt.Brier / seeds
							secs += took / seeds
						}
						b.ReportMetric(acc, "val-accuracy")
						b.ReportMetric(f1, "val-macro-F1")
						b.ReportMetric(rare, "rarest-F1")
						b.ReportMetric(ll, "log-loss")
						b.ReportMetric(brier, "Brier")
						b.ReportMetric(secs, "train-s")
					}
				})
			}
		}
	}
}

func rarestClass(ds *dataset.Dataset) int {
	k := 0
	for c, n := range ds.TrainCounts {
		if n < ds.TrainCounts[k] {
			k = c
		}
	}
	return k
}

// trainAndScore trains cfg on ds and scores the validation rows, by the
// argmax or by thresholds cross-fitted on the two halves of the rows.
func trainAndScore(ctx context.Context, ds *dataset.Dataset, data dataset.Source, cfg mlp.Config, metric mlp.Metric, thresholded bool) (mlp.Metrics, float64, error) {
	start := time.Now()
	batches := ds.Batches(data, cfg)
	model, _, err := mlp.Train(ctx, cfg, ds.Dim, len(ds.Labels), batches)
	if err != nil {
		return mlp.Metrics{}, 0, err
	}
	took := time.Since(start).Seconds()
	model.Labels = ds.Labels
	if err := model.Fold(ds.Scaler); err != nil {
		return mlp.Metrics{}, 0, err
	}
	probs, err := ds.Probabilities(ctx, data, dataset.Validation, model.Classes, dataset.ModelPredict(model))
	if err != nil {
		return mlp.Metrics{}, 0, err
	}
	c := model.Classes
	pred := make([]int32, ds.ValRows)
	for i := range pred {
		pred[i] = int32(mlp.Argmax(probs[i*c : (i+1)*c]))
	}
	if thresholded {
		positive := rarestClass(ds)
		if p := metric.Positive(); p != "" {
			positive = slices.Index(ds.Labels, p)
		}
		for half := range 2 {
			// Choose on the other half, decide this one.
			var y []int32
			var pr []float32
			for i := 1 - half; i < ds.ValRows; i += 2 {
				y, pr = append(y, ds.ValY[i]), append(pr, probs[i*c:(i+1)*c]...)
			}
			t, _ := mlp.ChooseThreshold(y, pr, positive, metric, ds.Labels)
			for i := half; i < ds.ValRows; i += 2 {
				pred[i] = int32(mlp.Decide(probs[i*c:(i+1)*c], positive, t))
			}
		}
	}
	mt := mlp.Assess(ds.ValY, pred, c, ds.Labels)
	mt.LogLoss, mt.Brier = mlp.Calibration(ds.ValY, probs, c)
	return mt, took, nil
}

// duplicatesAcrossSplit counts the validation rows of a task whose text is
// identical to a training row's.
func duplicatesAcrossSplit(ctx context.Context, store tinyhead.Store, src dataset.Source, sum tinyhead.TaskSummary) (int, error) {
	train := map[string]bool{}
	var val []string
	_, err := dataset.Scan(ctx, src, sum, dataset.Options{Model: onnxembed.USELiteID, Dim: 512, ValFraction: 0.2},
		func(r tinyhead.LabeledRow, _ int32, side dataset.Side) error {
			d, err := store.GetDocument(ctx, r.Source, r.Item)
			if err != nil {
				return err
			}
			if side == dataset.Validation {
				val = append(val, d.ContentHash)
			} else {
				train[d.ContentHash] = true
			}
			return nil
		})
	n := 0
	for _, h := range val {
		if train[h] {
			n++
		}
	}
	return n, err
}

// hardHam is the store with more tasks: "hardham", the "group" task's
// rows labelled hard-ham-1 or rest, and "hardham-<k>", the same with only
// every k-th hard-ham-1 row (in id order).
type hardHam struct{ dataset.Source }

func (h hardHam) ScanLabeled(ctx context.Context, task, model string, withVectors bool, fn func(tinyhead.LabeledRow) error) error {
	keep := 1
	if task != "hardham" {
		if _, err := fmt.Sscanf(task, "hardham-%d", &keep); err != nil {
			return h.Source.ScanLabeled(ctx, task, model, withVectors, fn)
		}
	}
	seen := 0
	return h.Source.ScanLabeled(ctx, "group", model, withVectors, func(r tinyhead.LabeledRow) error {
		if r.Label != "hard-ham-1" {
			r.Label = "rest"
		} else if seen++; (seen-1)%keep != 0 {
			return nil
		}
		return fn(r)
	})
}

func hardHamSummary(group tinyhead.TaskSummary, keep int) tinyhead.TaskSummary {
	name := "hardham"
	if keep > 1 {
		name = fmt.Sprintf("hardham-%d", keep)
	}
	pos := (group.Labels["hard-ham-1"] + keep - 1) / keep
	rest := group.Rows - group.Labels["hard-ham-1"]
	return tinyhead.TaskSummary{Task: name, Rows: pos + rest, LastChange: group.LastChange,
		Labels: map[string]int{"hard-ham-1": pos, "rest": rest}}
}
