package training

import (
	"context"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/mlp/mlptest"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// BenchmarkScaling trains the default recipe on synthetic tables of
// growing size — 512-d unit rows with class structure (mlptest.Synthetic,
// 10 classes), written into a fresh SQLite store through the store's API —
// in memory and streaming every batch from SQL, and reports the time to
// load and to train and the peak memory of each.
//
//	TINYHEAD_BENCH_SCALING=10000,100000,1000000 TINYHEAD_BENCH_PLOT=bench/scaling.png \
//	  go test -run XXX -bench Scaling -benchtime 1x -timeout 60m ./internal/training/
//
// Sizes default to 10,000 and 100,000 rows; TINYHEAD_BENCH_PLOT draws the
// figures into a PNG.
//
// Everything is the product's code: the store's writes, ScanLabeled
// ("rows=N/scan-labeled" times it alone), the in-memory and keys-only
// loaders, the scaler fit, the split, the batches sampled from SQL by id,
// the trainer. Each size's database lives in a temporary directory
// (TINYHEAD_BENCH_TMP, default the test's) and is deleted afterwards; at a
// million rows it takes about 2.2 GB.
func BenchmarkScaling(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if v := os.Getenv("TINYHEAD_BENCH_SCALING"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 100 {
				b.Fatalf("TINYHEAD_BENCH_SCALING: bad size %q", f)
			}
			sizes = append(sizes, n)
		}
	}
	tmp := os.Getenv("TINYHEAD_BENCH_TMP")
	if tmp == "" {
		tmp = b.TempDir()
	}
	var points []scalingPoint
	for _, n := range sizes {
		path := filepath.Join(tmp, fmt.Sprintf("tinyhead-scaling-%d.db", n))
		var store *sqlstore.Store
		b.Run(fmt.Sprintf("rows=%d/write", n), func(b *testing.B) {
			for b.Loop() {
				if store != nil {
					store.Close()
				}
				store = writeSynthetic(b, path, n)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds()*float64(b.N), "write-rows/s")
		})
		if store == nil {
			b.FailNow()
		}
		tasks, err := store.Tasks(context.Background(), scalingModel)
		if err != nil || len(tasks) != 1 {
			b.Fatalf("tasks of the synthetic store: %v, %v", tasks, err)
		}
		b.Run(fmt.Sprintf("rows=%d/scan-labeled", n), func(b *testing.B) {
			for b.Loop() {
				rows := 0
				err := store.ScanLabeled(context.Background(), "synthetic", scalingModel, true, func(tinyhead.LabeledRow) error {
					rows++
					return nil
				})
				if err != nil || rows != n {
					b.Fatalf("ScanLabeled: %d rows, %v", rows, err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "scan-s")
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "scan-rows/s")
		})
		for _, mode := range []string{"memory", "sql"} {
			b.Run(fmt.Sprintf("rows=%d/%s", n, mode), func(b *testing.B) {
				r := benchTrainModel(b, store, tasks[0], scalingModel, mlp.Config{}, mode == "sql")
				points = append(points, scalingPoint{rows: n, mode: mode, run: r})
			})
		}
		store.Close()
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(path + suffix)
		}
	}
	if out := os.Getenv("TINYHEAD_BENCH_PLOT"); out != "" && len(points) > 0 {
		if err := plotScaling(points, out); err != nil {
			b.Fatal(err)
		}
	}
}

const scalingModel = "synthetic-512"

const syntheticSource = "incoming/synthetic.csv"

// writeSynthetic writes n synthetic rows with labels of the task "synthetic"
// into a new SQLite store at path, 256 rows a transaction as ingest does.
func writeSynthetic(b *testing.B, path string, n int) *sqlstore.Store {
	ctx := context.Background()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	store, err := sqlstore.Open(ctx, sqlstore.DriverSQLite, path)
	if err != nil {
		b.Fatal(err)
	}
	const dim, batch = 512, 256
	x, y := mlptest.Synthetic(n, dim, 10, 1)
	docs := make([]tinyhead.Document, 0, batch)
	for i := 0; i < n; i += batch {
		docs = docs[:0]
		for j := i; j < min(i+batch, n); j++ {
			text := fmt.Sprintf("synthetic row %d", j)
			docs = append(docs, tinyhead.Document{
				Source: syntheticSource, Item: strconv.Itoa(j), SourceVersion: "v1",
				ContentHash: tinyhead.ContentHash(text), Text: text,
				Embeddings: map[string][]float32{scalingModel: x[j*dim : (j+1)*dim]},
				Labels:     map[string]string{"synthetic": "c" + strconv.Itoa(int(y[j]))},
			})
		}
		if err := store.PutDocuments(ctx, docs); err != nil {
			b.Fatal(err)
		}
	}
	return store
}

type scalingPoint struct {
	rows int
	mode string
	run  run
}

// plotScaling draws training time, load time and peak memory against rows.
func plotScaling(points []scalingPoint, path string) error {
	modes := []struct {
		name, label string
		colour      color.Color
	}{
		{"memory", "in memory", color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}},
		{"sql", "batches from SQL", color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}},
	}
	panel := func(title, ylabel string, value func(run) float64, dashed bool, second func(run) float64, secondLabel string) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "rows (log scale)"
		p.Y.Label.Text = ylabel
		p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
		p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
		p.Legend.Top, p.Legend.Left = false, false
		p.Legend.XOffs, p.Legend.YOffs = -vg.Millimeter*2, vg.Millimeter*2
		for _, m := range modes {
			for k, f := range []func(run) float64{value, second} {
				if f == nil {
					continue
				}
				var xys plotter.XYs
				for _, pt := range points {
					if pt.mode == m.name && f(pt.run) > 0 {
						xys = append(xys, plotter.XY{X: float64(pt.rows), Y: f(pt.run)})
					}
				}
				if len(xys) == 0 {
					continue
				}
				line, dots, err := plotter.NewLinePoints(xys)
				if err != nil {
					return nil, err
				}
				line.Color, dots.Color = m.colour, m.colour
				line.Width = vg.Points(1.5)
				label := m.label
				if second != nil && k == 0 {
					label += ": training"
				}
				if k == 1 {
					line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
					label += ": " + secondLabel
				}
				p.Add(line, dots)
				p.Legend.Add(label, line, dots)
			}
		}
		return p, nil
	}
	train, err := panel("Default recipe (1000 steps of 256 rows): seconds", "seconds",
		func(r run) float64 { return r.fit.Seconds() }, false,
		func(r run) float64 { return r.load.Seconds() }, "loading")
	if err != nil {
		return err
	}
	mem, err := panel("Peak memory of the process", "MiB",
		func(r run) float64 { return r.peakMiB }, false, nil, "")
	if err != nil {
		return err
	}
	const w, h = 11 * vg.Inch, 4.5 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 6, PadY: vg.Millimeter * 4, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3}
	canvases := plot.Align([][]*plot.Plot{{train, mem}}, tiles, dc)
	train.Draw(canvases[0][0])
	mem.Draw(canvases[0][1])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
