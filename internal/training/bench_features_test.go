package training

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/inmem"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/onnxembed"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// featureTasks are the tasks of BenchmarkFeatures and the class whose F1
// is reported for the binary ones. hardham is built from the group labels:
// hard-ham-1 (about 4% of the mails) against the rest.
var featureTasks = []struct{ task, positive string }{
	{"spam", "spam"},
	{"group", ""},
	{"hardham", "hard-ham-1"},
}

// BenchmarkFeatures trains SpamAssassin's tasks through Service.Train (the
// whole recipe: load, the sketch backfill, train, threshold, evaluate,
// export) with each choice of features, for seeds 0–2
// (TINYHEAD_BENCH_SEEDS), each run a first model in an empty registry. It
// labels the task hardham first if the database lacks it, and sketches the
// stored texts (the backfill of databases filled before sketches existed),
// timing that once. With TINYHEAD_BENCH_OUT it appends one JSON line per
// run there (bench/report.py reads them). TINYHEAD_BENCH_CONFIG, a JSON
// object of hyperparameters (mlp.Config's fields, such as
// {"sketch_learning_rate": 200}), overrides the recipe's defaults in every
// run, to measure a candidate setting on the same path.
//
//	TINYHEAD_BENCH_DB=$PWD/copy-of-tinyhead.db go test -run XXX -bench Features -benchtime 1x ./internal/training/
func BenchmarkFeatures(b *testing.B) {
	store, _ := openBenchDB(b) // a copy: it is written to
	ctx := context.Background()
	labelHardHam(b, store)
	var out io.Writer = io.Discard
	if p := os.Getenv("TINYHEAD_BENCH_OUT"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		out = f
	}
	enc := json.NewEncoder(out)
	for _, ft := range featureTasks {
		start := time.Now()
		n, err := BackfillSketches(ctx, store, ft.task)
		if err != nil {
			b.Fatal(err)
		}
		enc.Encode(map[string]any{"impl": "tinyhead-backfill", "task": ft.task, "texts": n, "seconds": time.Since(start).Seconds()})
	}
	seeds := []uint64{0, 1, 2}
	if s := os.Getenv("TINYHEAD_BENCH_SEEDS"); s != "" {
		seeds = nil
		for _, f := range strings.Split(s, ",") {
			v, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			seeds = append(seeds, v)
		}
	}
	var base mlp.Config
	if c := os.Getenv("TINYHEAD_BENCH_CONFIG"); c != "" {
		if err := json.Unmarshal([]byte(c), &base); err != nil {
			b.Fatalf("TINYHEAD_BENCH_CONFIG: %v", err)
		}
	}
	emb := benchEmbedding{}
	log := slog.New(slog.DiscardHandler)
	for _, ft := range featureTasks {
		for _, features := range []mlp.Features{mlp.FeatureEmbedding, mlp.FeatureSketch, mlp.FeatureBoth} {
			for _, seed := range seeds {
				b.Run(ft.task+"/"+string(features)+"/seed="+strconv.FormatUint(seed, 10), func(b *testing.B) {
					var o *Outcome
					var cpu time.Duration
					for b.Loop() {
						blobs := inmem.NewBlobs()
						if err := blobs.EnsureContainer(ctx, "models"); err != nil {
							b.Fatal(err)
						}
						svc := &Service{Store: store, Embedders: tinyhead.Embedders{emb}, Log: log,
							Registry: &registry.Registry{Blobs: blobs, Container: "models", Runtime: inmem.Runtime, Log: log}}
						var err error
						before := cpuTime()
						cfg := base
						cfg.Features, cfg.Seed = features, seed
						if o, err = svc.Train(ctx, ft.task, Request{Config: cfg}); err != nil {
							b.Fatal(err)
						}
						cpu = cpuTime() - before
					}
					rec := map[string]any{
						"impl": "tinyhead", "task": ft.task, "features": string(features), "seed": seed,
						"train_s": o.Timings.Train, "load_s": o.Timings.Load, "total_s": o.Timings.Total, "total_cpu_s": cpu.Seconds(),
						"load_average": loadAverage(),
						"parameters":   o.Parameters, "val_rows": o.Rows.Validation,
						"val_accuracy": o.Metrics.Accuracy, "val_macro_f1": o.Metrics.MacroF1, "val_log_loss": o.Metrics.LogLoss,
					}
					for _, c := range o.Metrics.PerClass {
						if c.Label == ft.positive {
							rec["val_positive_f1"] = c.F1
						}
					}
					enc.Encode(rec)
					b.ReportMetric(o.Metrics.Accuracy, "val-accuracy")
					b.ReportMetric(o.Metrics.MacroF1, "val-macro-F1")
					b.ReportMetric(o.Timings.Train, "train-s")
				})
			}
		}
	}
}

// labelHardHam labels the task hardham from the task group: hard-ham-1
// against "other".
func labelHardHam(b *testing.B, store *sqlstore.Store) {
	ctx := context.Background()
	tasks, err := store.Tasks(ctx, onnxembed.USELiteID)
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range tasks {
		if t.Task == "hardham" {
			return
		}
	}
	var edits []tinyhead.LabelEdit
	err = store.ScanLabeled(ctx, "group", onnxembed.USELiteID, false, func(r tinyhead.LabeledRow) error {
		label := "other"
		if r.Label == "hard-ham-1" {
			label = "hard-ham-1"
		}
		edits = append(edits, tinyhead.LabelEdit{Doc: tinyhead.DocRef{ID: r.ID}, Task: "hardham", Label: label})
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if len(edits) == 0 {
		b.Skip("the database has no task group to build hardham from")
	}
	if _, err := store.SetLabels(ctx, "", "", edits); err != nil {
		b.Fatal(err)
	}
}

// benchEmbedding names the local run's embeddings.
type benchEmbedding struct{}

func (benchEmbedding) ModelID() string { return onnxembed.USELiteID }
func (benchEmbedding) Dim() int        { return 512 }
func (benchEmbedding) Embed(context.Context, []string) ([][]float32, error) {
	return nil, errors.New("the benchmark trains on stored embeddings only")
}

// cpuTime is the CPU time (user and system) this process has used: on a
// shared machine, less disturbed by other jobs than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage is the machine's 1-minute load average ("" where unknown).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Fields(string(b))[0]
}
