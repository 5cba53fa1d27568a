package training

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/embedwin"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/onnxembed"
	"github.com/tinyhead/tinyhead/internal/onnxrt"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// BenchmarkWindows compares reading whole documents (windows pooled into
// one vector) with clipping them, on the local run's database. Speed: the
// first 512 labelled documents' stored texts embedded by the default model
// clipped (as the stored vectors are) and with each window setting of
// TINYHEAD_BENCH_WINDOWS (default "128o32x8"), side by side, reporting
// texts/s and windows per text. Accuracy: every task trained with the
// default recipe, seeds 0–2, on the same split, on the stored (clipped)
// vectors and on every labelled document embedded with each window
// setting.
//
//	TINYHEAD_BENCH_DB=$PWD/.cache/local/tinyhead.db go test -run XXX -bench Windows -benchtime 1x -timeout 60m ./internal/training/
func BenchmarkWindows(b *testing.B) {
	store, tasks := openBenchDB(b)
	ctx := context.Background()
	if err := onnxrt.Init(os.Getenv("TINYHEAD_ORT_LIB")); err != nil {
		b.Fatal(err)
	}
	// The texts of every labelled document, once (tasks share documents).
	texts := map[int64]string{}
	var ids []int64
	for _, sum := range tasks {
		err := store.ScanLabeled(ctx, sum.Task, onnxembed.USELiteID, false, func(r tinyhead.LabeledRow) error {
			if _, ok := texts[r.ID]; ok {
				return nil
			}
			doc, err := store.GetDocument(ctx, r.Source, r.Item)
			if err != nil {
				return err
			}
			texts[r.ID] = doc.Text
			ids = append(ids, r.ID)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	settings := []string{"128o32x8"}
	if v := os.Getenv("TINYHEAD_BENCH_WINDOWS"); v != "" {
		settings = strings.Split(v, ",")
	}
	var wins []embedwin.Window
	for _, s := range settings {
		w, err := embedwin.Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		wins = append(wins, w)
	}
	sample := ids[:min(512, len(ids))]
	for _, win := range append([]embedwin.Window{{}}, wins...) {
		b.Run("embed-512/"+win.String(), func(b *testing.B) {
			for b.Loop() {
				vecs := benchEmbedAll(b, win, sample, texts)
				if !win.Enabled() { // the stored vectors are these
					stored, err := store.EmbeddingsByID(ctx, sample)
					if err != nil {
						b.Fatal(err)
					}
					var worst float64
					for id, v := range vecs {
						for k := range v {
							worst = max(worst, math.Abs(float64(v[k]-stored[id][k])))
						}
					}
					b.ReportMetric(worst, "max-diff-from-stored")
				}
			}
		})
	}
	for _, sum := range tasks {
		for _, seed := range []uint64{0, 1, 2} {
			b.Run(fmt.Sprintf("train/off/%s/seed=%d", sum.Task, seed), func(b *testing.B) {
				benchTrainModel(b, store, sum, onnxembed.USELiteID, mlp.Config{Seed: seed}, false)
			})
		}
	}
	for _, win := range wins {
		var vecs map[int64][]float32
		b.Run("embed-all/"+win.String(), func(b *testing.B) {
			for b.Loop() {
				vecs = benchEmbedAll(b, win, ids, texts)
			}
		})
		src := vectorSource{store, vecs}
		for _, sum := range tasks {
			for _, seed := range []uint64{0, 1, 2} {
				b.Run(fmt.Sprintf("train/%s/%s/seed=%d", win.String(), sum.Task, seed), func(b *testing.B) {
					benchTrainModel(b, src, sum, onnxembed.USELiteID, mlp.Config{Seed: seed}, false)
				})
			}
		}
	}
}

// benchEmbedAll embeds the texts of ids with the default model read with
// win, on 2 ONNX Runtime threads in batches as ingest runs them, and
// reports texts/s and windows per text.
func benchEmbedAll(b *testing.B, win embedwin.Window, ids []int64, texts map[int64]string) map[int64][]float32 {
	e, err := onnxembed.Open(onnxembed.Config{Dir: os.Getenv("TINYHEAD_MODEL_DIR"), Threads: 2, Window: &win})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	const batch = 256 // ingest.Pipeline's default batch of texts
	out := make(map[int64][]float32, len(ids))
	var total embedwin.Stats
	start := time.Now()
	for i := 0; i < len(ids); i += batch {
		part := ids[i:min(i+batch, len(ids))]
		in := make([]string, len(part))
		for k, id := range part {
			in[k] = texts[id]
		}
		vecs, st, err := e.EmbedStats(context.Background(), in)
		if err != nil {
			b.Fatal(err)
		}
		for k, id := range part {
			out[id] = vecs[k]
		}
		total.Texts += st.Texts
		total.Windows += st.Windows
		total.Tokens += st.Tokens
	}
	secs := time.Since(start).Seconds()
	b.ReportMetric(float64(total.Texts)/secs, "texts/s")
	b.ReportMetric(float64(total.Windows)/float64(total.Texts), "windows/text")
	b.ReportMetric(float64(total.Tokens)/float64(total.Texts), "tokens/text")
	b.ReportMetric(float64(total.Texts), "texts")
	return out
}

// vectorSource is the store's labelled rows with other vectors.
type vectorSource struct {
	rows interface {
		ScanLabeled(ctx context.Context, task, model string, withVectors bool, fn func(tinyhead.LabeledRow) error) error
	}
	vecs map[int64][]float32
}

func (s vectorSource) ScanLabeled(ctx context.Context, task, model string, withVectors bool, fn func(tinyhead.LabeledRow) error) error {
	return s.rows.ScanLabeled(ctx, task, model, false, func(r tinyhead.LabeledRow) error {
		if withVectors {
			r.Embedding = s.vecs[r.ID]
		}
		return fn(r)
	})
}

func (s vectorSource) EmbeddingsByID(_ context.Context, ids []int64) (map[int64][]float32, error) {
	out := make(map[int64][]float32, len(ids))
	for _, id := range ids {
		out[id] = s.vecs[id]
	}
	return out, nil
}
