package training

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"runtime"
	"slices"
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
// In memory mode trainX and valX hold the rows; in SQL mode only ids and
// labels are kept (12 bytes a row), and training batches and validation
// chunks are read from the store when they are needed.
type dataset struct {
	labels           []string // sorted; a class is an index into it
	dim              int
	trainX, valX     []float32
	trainY, valY     []int32
	trainIDs, valIDs []int64 // SQL mode
	trainRows        int
	valRows          int
	scaler           mlp.Scaler // fitted on the training rows
	labelOf          map[string]int32
	dataRows         int
	embeddingModel   string
}

// scanTask streams the rows a training run of the task takes, with their
// label index and side of the split: the rows of sum's labels, at most
// sum.Rows of them. A row labelled after the summary was read is left out —
// the data has changed since, so the next (nightly) training takes it — and
// every loader, and Export, see the same rows.
func scanTask(ctx context.Context, data tinyhead.TrainingData, ds *dataset, sum tinyhead.TaskSummary, valFraction float64,
	fn func(r tinyhead.LabeledRow, y int32, inValidation bool) error) error {
	taken := 0
	return data.ScanLabeled(ctx, sum.Task, ds.embeddingModel, true, func(r tinyhead.LabeledRow) error {
		y, ok := ds.labelOf[r.Label]
		if !ok || taken == sum.Rows {
			return nil
		}
		if len(r.Embedding) != ds.dim {
			return fmt.Errorf("document %d has a %d-d embedding, want %d", r.ID, len(r.Embedding), ds.dim)
		}
		taken++
		return fn(r, y, inValidation(r.Source, r.Item, valFraction))
	})
}

// loadInMemory streams the task's rows from the store into one matrix of
// the summary's size: training rows fill it from the front, validation rows
// from the back, so memory is the data itself whatever the split.
func loadInMemory(ctx context.Context, data tinyhead.TrainingData, sum tinyhead.TaskSummary, model string, dim int, valFraction float64) (*dataset, error) {
	ds := newDataset(sum, model, dim)
	rows := sum.Rows
	x := make([]float32, rows*dim)
	y := make([]int32, rows)
	train, val := 0, 0
	err := scanTask(ctx, data, ds, sum, valFraction, func(r tinyhead.LabeledRow, label int32, inVal bool) error {
		k := train
		if inVal {
			val++
			k = rows - val
		} else {
			train++
		}
		copy(x[k*dim:(k+1)*dim], r.Embedding)
		y[k] = label
		if (train+val)%gcEveryRows == 0 {
			runtime.GC()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load rows of task %s: %w", sum.Task, err)
	}
	// The validation rows went in back to front: put them in id order.
	first := rows - val
	reverseRows(x[first*dim:], dim)
	slices.Reverse(y[first:])
	ds.trainX, ds.trainY = x[:train*dim:train*dim], y[:train:train]
	ds.valX, ds.valY = x[first*dim:], y[first:]
	ds.trainRows, ds.valRows = train, val
	ds.scaler = mlp.FitScaler(ds.trainX, dim)
	return ds, nil
}

// gcEveryRows is how often loadInMemory collects the garbage the SQL
// driver leaves behind (a fresh copy of every row's 2 KiB embedding). Left
// to the pacer it would pile up to the size of the live heap, which here
// is the training matrix itself: the process would peak at twice the data.
// The matrix holds no pointers, so a collection costs little however large
// it is: at 100,000 rows (BenchmarkScaling) the process grew by 1.15× the
// data instead of 2×, and the load took no longer.
const gcEveryRows = 8 << 10

// reverseRows reverses the order of the dim-wide rows of x in place.
func reverseRows(x []float32, dim int) {
	tmp := make([]float32, dim)
	for i, j := 0, len(x)/dim-1; i < j; i, j = i+1, j-1 {
		a, b := x[i*dim:(i+1)*dim], x[j*dim:(j+1)*dim]
		copy(tmp, a)
		copy(a, b)
		copy(b, tmp)
	}
}

// loadKeysOnly keeps ids and labels only: one pass over the rows fits the
// scaler on the training vectors without keeping them; training batches
// (sqlBatches) and validation chunks (eachValidation) are read by id later.
func loadKeysOnly(ctx context.Context, data tinyhead.TrainingData, sum tinyhead.TaskSummary, model string, dim int, valFraction float64) (*dataset, error) {
	ds := newDataset(sum, model, dim)
	fit := mlp.NewScalerFit(dim)
	err := scanTask(ctx, data, ds, sum, valFraction, func(r tinyhead.LabeledRow, y int32, inVal bool) error {
		if inVal {
			ds.valIDs = append(ds.valIDs, r.ID)
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
	ds.trainRows, ds.valRows = len(ds.trainIDs), len(ds.valY)
	ds.scaler = fit.Scaler()
	return ds, nil
}

// validationChunk is how many validation rows are scored at a time.
const validationChunk = 1024

// eachValidation calls fn on the validation rows (raw embeddings) in order,
// a chunk at a time; first is the index of the chunk's first row. In SQL
// mode the chunks are read by id, so memory does not grow with the
// validation set either.
func (ds *dataset) eachValidation(ctx context.Context, data tinyhead.TrainingData, fn func(first int, x []float32) error) error {
	if ds.valIDs == nil {
		for first := 0; first < ds.valRows; first += validationChunk {
			n := min(validationChunk, ds.valRows-first)
			if err := fn(first, ds.valX[first*ds.dim:(first+n)*ds.dim]); err != nil {
				return err
			}
		}
		return nil
	}
	buf := make([]float32, 0, min(validationChunk, ds.valRows)*ds.dim)
	for first := 0; first < len(ds.valIDs); first += validationChunk {
		ids := ds.valIDs[first:min(first+validationChunk, len(ds.valIDs))]
		vecs, err := data.EmbeddingsByID(ctx, ids)
		if err != nil {
			return fmt.Errorf("read validation rows: %w", err)
		}
		buf = buf[:0]
		for _, id := range ids {
			v := vecs[id]
			if len(v) != ds.dim {
				return fmt.Errorf("read validation rows: document %d has no %d-d embedding (deleted since loading?)", id, ds.dim)
			}
			buf = append(buf, v...)
		}
		if err := fn(first, buf); err != nil {
			return err
		}
	}
	return nil
}

// predictValidation is the most probable class of every validation row
// under predict, which returns n rows of classes probabilities.
func (ds *dataset) predictValidation(ctx context.Context, data tinyhead.TrainingData, classes int, predict func(x []float32, n int) ([]float32, error)) ([]int32, error) {
	pred := make([]int32, ds.valRows)
	err := ds.eachValidation(ctx, data, func(first int, x []float32) error {
		n := len(x) / ds.dim
		probs, err := predict(x, n)
		if err != nil {
			return err
		}
		for r := range n {
			pred[first+r] = int32(mlp.Argmax(probs[r*classes : (r+1)*classes]))
		}
		return nil
	})
	return pred, err
}

// evaluate scores model (which takes raw embeddings: its scaler is folded
// in) on the validation rows.
func (ds *dataset) evaluate(ctx context.Context, data tinyhead.TrainingData, model *mlp.Model) (mlp.Metrics, error) {
	probs := make([]float32, validationChunk*model.Classes)
	pred, err := ds.predictValidation(ctx, data, model.Classes, func(x []float32, n int) ([]float32, error) {
		model.Predict(x, n, probs)
		return probs[:n*model.Classes], nil
	})
	if err != nil {
		return mlp.Metrics{}, err
	}
	return mlp.Assess(ds.valY, pred, model.Classes, model.Labels), nil
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
