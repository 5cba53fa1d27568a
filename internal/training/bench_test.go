package training

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/onnxembed"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
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
	path := os.Getenv("TINYHEAD_BENCH_DB")
	if path == "" {
		b.Skip("set TINYHEAD_BENCH_DB to a database filled by scripts/run-local.sh")
	}
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	tasks, err := store.Tasks(ctx, onnxembed.USELiteID)
	if err != nil {
		b.Fatal(err)
	}
	if len(tasks) == 0 {
		b.Skip("no labelled tasks in " + path)
	}
	const dim = 512
	for _, sum := range tasks {
		for _, mode := range []string{"memory", "sql"} {
			b.Run(sum.Task+"/"+mode, func(b *testing.B) {
				resetPeakRSS()
				base := procStatusMiB("VmRSS")
				var m mlp.Metrics
				var load, fit time.Duration
				var rows int
				for b.Loop() {
					start := time.Now()
					fromSQL := mode == "sql"
					ds, err := loader(fromSQL)(ctx, store, sum, onnxembed.USELiteID, dim, 0.2)
					if err != nil {
						b.Fatal(err)
					}
					cfg := mlp.Config{}.WithDefaults(len(ds.labels))
					batches := newBatches(ds, store, cfg, fromSQL)
					loaded := time.Now()
					model, _, err := mlp.Train(ctx, cfg, dim, len(ds.labels), batches)
					if err != nil {
						b.Fatal(err)
					}
					fit = time.Since(loaded)
					load = loaded.Sub(start)
					model.Labels = ds.labels
					if err := model.Fold(ds.scaler); err != nil {
						b.Fatal(err)
					}
					m = mlp.Evaluate(model, ds.valX, ds.valY)
					rows = ds.trainRows + ds.valRows
				}
				b.ReportMetric(m.Accuracy, "val-accuracy")
				b.ReportMetric(m.MacroF1, "val-macro-F1")
				b.ReportMetric(float64(rows), "rows")
				b.ReportMetric(load.Seconds(), "load-s")
				b.ReportMetric(float64(rows)/load.Seconds(), "load-rows/s")
				b.ReportMetric(fit.Seconds(), "train-s")
				b.ReportMetric(procStatusMiB("VmHWM"), "peak-RSS-MiB")
				b.ReportMetric(procStatusMiB("VmHWM")-base, "peak-growth-MiB")
			})
		}
	}
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
