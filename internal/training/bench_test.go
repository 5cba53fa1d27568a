package training

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/dataset"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/onnxembed"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// BenchmarkTrainStored trains every task of a database that the local run
// filled (scripts/run-local.sh: SpamAssassin, tasks "spam" and "group")
// with the default recipe, from SQL to a scored model, and reports the
// validation figures, the time to load and to train, and the peak memory.
//
//	TINYHEAD_BENCH_DB=$PWD/.cache/local/tinyhead.db go test -run XXX -bench TrainStored -benchtime 1x ./internal/training/
//
// The mode "sql" samples every mini-batch from the database instead.
func BenchmarkTrainStored(b *testing.B) {
	store, tasks := openBenchDB(b)
	for _, sum := range tasks {
		for _, mode := range []string{"memory", "sql"} {
			b.Run(sum.Task+"/"+mode, func(b *testing.B) {
				benchTrainOnce(b, store, sum, mlp.Config{}, mode == "sql")
			})
		}
	}
}

// run is one measured training run: load, train, evaluate.
type run struct {
	metrics            mlp.Metrics
	rows               int
	load, fit, total   time.Duration
	peakMiB, growthMiB float64
}

// benchTrainOnce trains a task once per iteration the way Service.Train
// does (load, class weights by the recipe's rule, standardise unless cfg
// says not to, train, fold, choose a binary task's threshold, evaluate)
// and reports the last run's figures.
func benchTrainOnce(b *testing.B, data dataset.Source, sum tinyhead.TaskSummary, cfg mlp.Config, fromSQL bool) run {
	return benchTrainModel(b, data, sum, onnxembed.USELiteID, cfg, fromSQL)
}

// benchTrainModel is benchTrainOnce for rows embedded by model.
func benchTrainModel(b *testing.B, data dataset.Source, sum tinyhead.TaskSummary, model string, cfg mlp.Config, fromSQL bool) run {
	const dim = 512
	ctx := context.Background()
	resetPeakRSS()
	base := procStatusMiB("VmRSS")
	var r run
	for b.Loop() {
		start := time.Now()
		ds, err := dataset.Load(ctx, data, sum, dataset.Options{Model: model, Dim: dim, ValFraction: 0.2, FromSQL: fromSQL})
		if err != nil {
			b.Fatal(err)
		}
		imbalanced, _ := balance(ds)
		cfg := withClassWeights(cfg.WithDefaults(len(ds.Labels)), ds)
		batches := ds.Batches(data, cfg)
		loaded := time.Now()
		model, _, err := mlp.Train(ctx, cfg, dim, len(ds.Labels), batches)
		if err != nil {
			b.Fatal(err)
		}
		r.fit = time.Since(loaded)
		r.load = loaded.Sub(start)
		model.Labels = ds.Labels
		if !cfg.NoStandardize {
			if err := model.Fold(ds.Scaler); err != nil {
				b.Fatal(err)
			}
		}
		if r.metrics, err = evaluateRecipe(ctx, ds, data, model, imbalanced); err != nil {
			b.Fatal(err)
		}
		r.total = time.Since(start)
		r.rows = ds.TrainRows + ds.ValRows
	}
	r.peakMiB = procStatusMiB("VmHWM")
	r.growthMiB = r.peakMiB - base
	b.ReportMetric(r.metrics.Accuracy, "val-accuracy")
	b.ReportMetric(r.metrics.MacroF1, "val-macro-F1")
	b.ReportMetric(float64(r.rows), "rows")
	b.ReportMetric(r.load.Seconds(), "load-s")
	b.ReportMetric(float64(r.rows)/r.load.Seconds(), "load-rows/s")
	b.ReportMetric(r.fit.Seconds(), "train-s")
	b.ReportMetric(r.total.Seconds(), "total-s")
	b.ReportMetric(r.peakMiB, "peak-RSS-MiB")
	b.ReportMetric(r.growthMiB, "peak-growth-MiB")
	return r
}

// Recipes that bench/torch_mlp.py implements in PyTorch.
var benchRecipes = []struct {
	name string
	cfg  mlp.Config
}{
	// The default: standardised inputs, ReLU, hidden max(classes/2, 16).
	{"default", mlp.Config{}},
	// The reference recipe (docs/design.md): raw inputs, no activation, hidden classes/2.
	{"reference", mlp.Config{MinHidden: -1, Activation: mlp.None, NoStandardize: true}},
}

// BenchmarkRecipes is tinyhead's side of the comparison with PyTorch
// (scripts/bench.sh, bench/torch_mlp.py): each task of the local run's
// database, each recipe, seeds 0–2 (TINYHEAD_BENCH_SEEDS), in memory, from
// SQL to a scored model.
//
//	TINYHEAD_BENCH_DB=$PWD/.cache/local/tinyhead.db go test -run XXX -bench Recipes -benchtime 1x -cpu 1,2 ./internal/training/
func BenchmarkRecipes(b *testing.B) {
	store, tasks := openBenchDB(b)
	seeds := []uint64{0, 1, 2}
	if v := os.Getenv("TINYHEAD_BENCH_SEEDS"); v != "" {
		seeds = nil
		for _, f := range strings.Split(v, ",") {
			s, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				b.Fatalf("TINYHEAD_BENCH_SEEDS: %v", err)
			}
			seeds = append(seeds, s)
		}
	}
	for _, sum := range tasks {
		for _, rc := range benchRecipes {
			for _, seed := range seeds {
				b.Run(fmt.Sprintf("%s/%s/seed=%d", sum.Task, rc.name, seed), func(b *testing.B) {
					cfg := rc.cfg
					cfg.Seed = seed
					benchTrainOnce(b, store, sum, cfg, false)
				})
			}
		}
	}
}

// openBenchDB opens TINYHEAD_BENCH_DB and lists its tasks, or skips.
func openBenchDB(b *testing.B) (*sqlstore.Store, []tinyhead.TaskSummary) {
	path := os.Getenv("TINYHEAD_BENCH_DB")
	if path == "" {
		b.Skip("set TINYHEAD_BENCH_DB to a database filled by scripts/run-local.sh")
	}
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	tasks, err := store.Tasks(ctx, onnxembed.USELiteID)
	if err != nil {
		b.Fatal(err)
	}
	if len(tasks) == 0 {
		b.Skip("no labelled tasks in " + path)
	}
	return store, tasks
}

// resetPeakRSS frees what earlier benchmarks left and resets the kernel's
// peak-RSS counter (VmHWM) of this process.
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// procStatusMiB reads a memory figure of /proc/self/status, such as VmHWM
// (peak RSS) or VmRSS, in MiB (0 where there is none).
func procStatusMiB(field string) float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// evaluateRecipe scores a trained model on the validation rows as
// Service.Train does: by the default metric's threshold on a binary task.
func evaluateRecipe(ctx context.Context, ds *dataset.Dataset, data dataset.Source, model *mlp.Model, imbalanced bool) (mlp.Metrics, error) {
	metric, _, err := chooseMetric("", "", "", ds, imbalanced)
	if err != nil {
		return mlp.Metrics{}, err
	}
	predict := dataset.ModelPredict(model)
	probs, err := ds.Probabilities(ctx, data, dataset.Validation, model.Classes, predict)
	if err != nil {
		return mlp.Metrics{}, err
	}
	man := &registry.Manifest{Labels: ds.Labels}
	man.Threshold = threshold(ds, probs, metric)
	sc, err := scoreHeldOut(ctx, ds, data, man, predict, probs)
	return sc.val, err
}
