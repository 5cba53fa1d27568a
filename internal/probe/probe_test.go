package probe

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/tinyhead/tinyhead/internal/dataset"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/sketch"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
)

type row struct {
	x     []float32
	sk    sketch.Vector
	label string
	val   bool
}

func TestProbe(t *testing.T) {
	db, err := sql.Open("sqlite", "file:/tmp/probe.db?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	task := os.Getenv("TASK")
	q := `SELECT d.source, d.item, d.text, d.embedding, l.label FROM documents d JOIN labels l ON l.document_id = d.id WHERE l.task = ? ORDER BY d.id`
	rs, err := db.Query(q, task)
	if err != nil {
		t.Fatal(err)
	}
	var rows []row
	labels := map[string]int32{}
	start := time.Now()
	for rs.Next() {
		var src, item, text, label string
		var emb []byte
		if err := rs.Scan(&src, &item, &text, &emb, &label); err != nil {
			t.Fatal(err)
		}
		if os.Getenv("HARD") != "" {
			if label != "hard-ham-1" {
				label = "rest"
			}
		}
		v, _ := sqlstore.DecodeVector(emb)
		rows = append(rows, row{x: v, sk: sketch.Of(text), label: label, val: dataset.InValidation(src, item, 0.2)})
		labels[label] = 0
	}
	fmt.Println("sketch s", time.Since(start).Seconds(), len(rows))
	var ls []string
	for l := range labels {
		ls = append(ls, l)
	}
	sort.Strings(ls)
	for i, l := range ls {
		labels[l] = int32(i)
	}
	var tx, vx []float32
	var ty, vy []int32
	var ts, vs mlp.Sparse
	nnz := 0
	for _, r := range rows {
		nnz += r.sk.Len()
		if r.val {
			vx = append(vx, r.x...)
			vy = append(vy, labels[r.label])
			vs.Append(r.sk.Index, r.sk.Value)
		} else {
			tx = append(tx, r.x...)
			ty = append(ty, labels[r.label])
			ts.Append(r.sk.Index, r.sk.Value)
		}
	}
	fmt.Println("mean nnz", nnz/len(rows))
	sc := mlp.FitScaler(tx, 512)
	sc.Apply(tx)
	lr, _ := strconv.ParseFloat(os.Getenv("LR"), 64)
	buckets, _ := strconv.Atoi(os.Getenv("B"))
	steps, _ := strconv.Atoi(os.Getenv("STEPS"))
	for _, f := range []mlp.Features{mlp.Features(os.Getenv("F"))} {
		for seed := range uint64(1) {
			cfg := mlp.Config{Features: f, SketchLearningRate: lr, SketchBuckets: buckets, Seed: seed, Steps: steps}
			t0 := time.Now()
			m, _, err := mlp.Train(context.Background(), cfg, 512, len(ls), mlp.NewMemoryBatches(tx, ty, 512, 256, seed).WithSketch(ts))
			if err != nil {
				t.Fatal(err)
			}
			el := time.Since(t0).Seconds()
			m.Fold(sc)
			me := mlp.Evaluate(m, vx, vs, vy)
			pf1 := 0.0
			if len(ls) == 2 {
				pf1 = me.PerClass[0].F1
			}
			fmt.Printf("%s seed %d: acc %.4f macroF1 %.4f class0F1 %.4f train %.2fs\n", f, seed, me.Accuracy, me.MacroF1, pf1, el)
		}
	}
}
