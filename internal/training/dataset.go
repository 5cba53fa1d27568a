package training

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"

	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// inValidation is the stable split: a document's (source, item) identity
// hashes to the same side every time, so the validation set of a task does
// not change between retrains (new documents join one side or the other).
func inValidation(source, item string, fraction float64) bool {
	h := fnv.New64a()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(item))
	return float64(h.Sum64()%10000) < fraction*10000
}

// dataset is a task's labelled rows split into training and validation.
// In memory mode trainX holds the training matrix; in SQL mode only
// trainIDs are kept and batches are read from the store.
type dataset struct {
	labels         []string // sorted; a class is an index into it
	dim            int
	trainX, valX   []float32
	trainY, valY   []int32
	trainIDs       []int64
	trainRows      int
	valRows        int
	scaler         mlp.Scaler // fitted on the training rows
	labelOf        map[string]int32
	dataRows       int
	embeddingModel string
}

// loadInMemory streams the task's rows from the store straight into
// preallocated matrices: memory is the training matrix itself.
func loadInMemory(ctx context.Context, data tinyhead.TrainingData, sum tinyhead.TaskSummary, model string, dim int, valFraction float64) (*dataset, error) {
	ds := newDataset(sum, model, dim)
	ds.trainX = make([]float32, 0, sum.Rows*dim)
	ds.trainY = make([]int32, 0, sum.Rows)
	err := data.ScanLabeled(ctx, sum.Task, model, true, func(r tinyhead.LabeledRow) error {
		if len(r.Embedding) != dim {
			return fmt.Errorf("document %d has a %d-d embedding, want %d", r.ID, len(r.Embedding), dim)
		}
		y, ok := ds.labelOf[r.Label]
		if !ok {
			return nil // labelled after the summary was read; next training takes it
		}
		if inValidation(r.Source, r.Item, valFraction) {
			ds.valX = append(ds.valX, r.Embedding...)
			ds.valY = append(ds.valY, y)
		} else {
			ds.trainX = append(ds.trainX, r.Embedding...)
			ds.trainY = append(ds.trainY, y)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load rows of task %s: %w", sum.Task, err)
	}
	ds.trainRows, ds.valRows = len(ds.trainY), len(ds.valY)
	ds.scaler = mlp.FitScaler(ds.trainX, dim)
	return ds, nil
}

// loadKeysOnly keeps ids and labels only: one pass over the rows fits the
// scaler on the training vectors without keeping them, the validation
// vectors are then fetched by id, and training batches come from the store
// (sqlBatches).
func loadKeysOnly(ctx context.Context, data tinyhead.TrainingData, sum tinyhead.TaskSummary, model string, dim int, valFraction float64) (*dataset, error) {
	ds := newDataset(sum, model, dim)
	var valIDs []int64
	fit := mlp.NewScalerFit(dim)
	err := data.ScanLabeled(ctx, sum.Task, model, true, func(r tinyhead.LabeledRow) error {
		y, ok := ds.labelOf[r.Label]
		if !ok {
			return nil
		}
		if len(r.Embedding) != dim {
			return fmt.Errorf("document %d has a %d-d embedding, want %d", r.ID, len(r.Embedding), dim)
		}
		if inValidation(r.Source, r.Item, valFraction) {
			valIDs = append(valIDs, r.ID)
			ds.valY = append(ds.valY, y)
		} else {
			ds.trainIDs = append(ds.trainIDs, r.ID)
			ds.trainY = append(ds.trainY, y)
			fit.Add(r.Embedding)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load keys of task %s: %w", sum.Task, err)
	}
	ds.valX = make([]float32, 0, len(valIDs)*dim)
	for start := 0; start < len(valIDs); start += 512 {
		ids := valIDs[start:min(start+512, len(valIDs))]
		vecs, err := data.EmbeddingsByID(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("load validation rows of task %s: %w", sum.Task, err)
		}
		for _, id := range ids {
			v := vecs[id]
			if len(v) != dim {
				return nil, fmt.Errorf("document %d: no %d-d embedding", id, dim)
			}
			ds.valX = append(ds.valX, v...)
		}
	}
	ds.trainRows, ds.valRows = len(ds.trainIDs), len(ds.valY)
	ds.scaler = fit.Scaler()
	return ds, nil
}

func newDataset(sum tinyhead.TaskSummary, model string, dim int) *dataset {
	ds := &dataset{dim: dim, labelOf: map[string]int32{}, dataRows: sum.Rows, embeddingModel: model}
	for l := range sum.Labels {
		ds.labels = append(ds.labels, l)
	}
	sort.Strings(ds.labels)
	for i, l := range ds.labels {
		ds.labelOf[l] = int32(i)
	}
	return ds
}

// loader picks how a dataset is loaded: the training matrix in memory, or
// keys only when batches come from SQL.
func loader(fromSQL bool) func(context.Context, tinyhead.TrainingData, tinyhead.TaskSummary, string, int, float64) (*dataset, error) {
	if fromSQL {
		return loadKeysOnly
	}
	return loadInMemory
}

// newBatches is the mini-batch source of a training run, standardised
// unless cfg.NoStandardize. In memory the training matrix is standardised
// in place (no copy; the trainer's parallel fast path for MemoryBatches
// stays), so it may be called once per dataset.
func newBatches(ds *dataset, data tinyhead.TrainingData, cfg mlp.Config, fromSQL bool) mlp.Batches {
	if fromSQL {
		var b mlp.Batches = &sqlBatches{data: data, ids: ds.trainIDs, labels: ds.trainY, batchSize: cfg.BatchSize, dim: ds.dim,
			rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed))}
		if !cfg.NoStandardize {
			b = mlp.ScaleBatches(b, ds.scaler)
		}
		return b
	}
	if !cfg.NoStandardize {
		ds.scaler.Apply(ds.trainX)
	}
	return mlp.NewMemoryBatches(ds.trainX, ds.trainY, ds.dim, cfg.BatchSize, cfg.Seed)
}

// sqlBatches samples each mini-batch straight from the store: for tables
// larger than memory, only ids and labels are held.
type sqlBatches struct {
	data      tinyhead.TrainingData
	ids       []int64
	labels    []int32
	batchSize int
	dim       int
	rng       *rand.Rand
}

func (b *sqlBatches) Next(ctx context.Context, x []float32, y []int32) (int, error) {
	n := min(b.batchSize, len(b.ids))
	pick := make([]int, n)
	ids := make([]int64, n)
	for i := range pick {
		pick[i] = b.rng.IntN(len(b.ids))
		ids[i] = b.ids[pick[i]]
	}
	vecs, err := b.data.EmbeddingsByID(ctx, ids)
	if err != nil {
		return 0, fmt.Errorf("sample a training batch: %w", err)
	}
	for i, k := range pick {
		v := vecs[ids[i]]
		if len(v) != b.dim {
			return 0, fmt.Errorf("document %d: no %d-d embedding", ids[i], b.dim)
		}
		copy(x[i*b.dim:(i+1)*b.dim], v)
		y[i] = b.labels[k]
	}
	return n, nil
}
