package training

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/dataset"
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
	b.Run("embed-512", func(b *testing.B) {
		for b.Loop() {
			benchEmbedSideBySide(b, store, append([]embedwin.Window{{}}, wins...), ids[:min(512, len(ids))], texts)
		}
	})
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
	e := openWindowed(b, win)
	out := make(map[int64][]float32, len(ids))
	var total embedwin.Stats
	start := time.Now()
	for i := 0; i < len(ids); i += ingestBatch {
		part := ids[i:min(i+ingestBatch, len(ids))]
		vecs, st := embedPart(b, e, part, texts)
		for k, id := range part {
			out[id] = vecs[k]
		}
		total.Add(st)
	}
	reportEmbed(b, "", total, time.Since(start))
	return out
}

// benchEmbedSideBySide embeds the texts of ids with every window setting,
// taking turns batch by batch so that a shared machine's load falls on
// all of them alike, and reports each one's texts/s and windows per text.
// It checks that clipped vectors are the stored ones.
func benchEmbedSideBySide(b *testing.B, store dataset.Source, wins []embedwin.Window, ids []int64, texts map[int64]string) {
	embs := make([]*onnxembed.Embedder, len(wins))
	for i, w := range wins {
		embs[i] = openWindowed(b, w)
	}
	totals := make([]embedwin.Stats, len(wins))
	took := make([]time.Duration, len(wins))
	var worst float64
	for i := 0; i < len(ids); i += 64 {
		part := ids[i:min(i+64, len(ids))]
		for k, e := range embs {
			start := time.Now()
			vecs, st := embedPart(b, e, part, texts)
			took[k] += time.Since(start)
			totals[k].Add(st)
			if wins[k].Enabled() {
				continue
			}
			stored, err := store.EmbeddingsByID(context.Background(), onnxembed.USELiteID, part)
			if err != nil {
				b.Fatal(err)
			}
			for j, id := range part {
				for c := range vecs[j] {
					worst = max(worst, math.Abs(float64(vecs[j][c]-stored[id][c])))
				}
			}
		}
	}
	for k, w := range wins {
		reportEmbed(b, w.String()+"-", totals[k], took[k])
	}
	b.ReportMetric(worst, "clipped-max-diff-from-stored")
}

// ingestBatch is ingest.Pipeline's default batch of texts.
const ingestBatch = 256

func openWindowed(b *testing.B, win embedwin.Window) *onnxembed.Embedder {
	e, err := onnxembed.Open(onnxembed.Config{Dir: os.Getenv("TINYHEAD_MODEL_DIR"), Threads: 2, Window: &win})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

func embedPart(b *testing.B, e *onnxembed.Embedder, ids []int64, texts map[int64]string) ([][]float32, embedwin.Stats) {
	in := make([]string, len(ids))
	for k, id := range ids {
		in[k] = texts[id]
	}
	vecs, st, err := e.EmbedStats(context.Background(), in)
	if err != nil {
		b.Fatal(err)
	}
	return vecs, st
}

func reportEmbed(b *testing.B, prefix string, st embedwin.Stats, took time.Duration) {
	b.ReportMetric(float64(st.Texts)/took.Seconds(), prefix+"texts/s")
	b.ReportMetric(float64(st.Windows)/float64(st.Texts), prefix+"windows/text")
	b.ReportMetric(float64(st.Tokens)/float64(st.Texts), prefix+"tokens/text")
}

// vectorSource is the store's labelled rows of one model with other
// vectors (those of the same documents read with a window setting).
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

func (s vectorSource) EmbeddingsByID(_ context.Context, _ string, ids []int64) (map[int64][]float32, error) {
	out := make(map[int64][]float32, len(ids))
	for _, id := range ids {
		out[id] = s.vecs[id]
	}
	return out, nil
}
