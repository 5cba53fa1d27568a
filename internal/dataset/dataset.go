// Package dataset loads a task's labelled rows for training: it picks the
// rows (the task summary's labels, at most its row count), splits them by a
// stable hash into training and validation sides, and serves them as the
// trainer's mini-batches and as validation chunks to score models on —
// either from one matrix in memory or, for tables larger than memory,
// straight from the store by id.
//
// It owns the split: every consumer (training, scoring of older versions,
// the benchmark export) sees the same rows on the same side.
package dataset

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

// Source is what loading reads from the store; sqlstore.Store and
// inmem.Store implement it.
type Source interface {
	// ScanLabeled streams the labelled documents of a task embedded by
	// model, in id order (see tinyhead.TrainingData).
	ScanLabeled(ctx context.Context, task, model string, withVectors bool, fn func(tinyhead.LabeledRow) error) error
	// EmbeddingsByID returns the embeddings of the given documents.
	EmbeddingsByID(ctx context.Context, ids []int64) (map[int64][]float32, error)
}

// InValidation is the stable split: a document's (source, item) identity
// hashes to the same side every time, so the validation set of a task does
// not change between retrains (new documents join one side or the other).
func InValidation(source, item string, fraction float64) bool {
	h := fnv.New64a()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(item))
	return float64(h.Sum64()%10000) < fraction*10000
}

// Dataset is a task's labelled rows split into training and validation.
// In memory mode the rows are held in one matrix; in SQL mode only ids and
// labels are kept (12 bytes a row), and training batches and validation
// chunks are read from the store when they are needed.
type Dataset struct {
	// Labels are the task's labels, sorted; a class is an index into it.
	Labels []string
	// Dim is the embeddings' length and EmbeddingModel their model.
	Dim            int
	EmbeddingModel string
	// TrainRows and ValRows count the rows on each side of the split.
	TrainRows, ValRows int
	// ValY is the class of every validation row, in id order.
	ValY []int32
	// Scaler standardises inputs; it is fitted on the training rows.
	Scaler mlp.Scaler

	trainX, valX     []float32 // in memory mode
	trainY           []int32
	trainIDs, valIDs []int64 // SQL mode
	fromSQL          bool
	labelOf          map[string]int32
	sketches         // the rows' sketches, once LoadSketches has read them
}

// Options say how to load a dataset.
type Options struct {
	// Model and Dim are the embedding model to train on and its length.
	Model string
	Dim   int
	// ValFraction is the share of documents on the validation side.
	ValFraction float64
	// FromSQL keeps only ids and labels in memory and reads every batch
	// and validation chunk from the store by id.
	FromSQL bool
}

// Load reads the rows of the task sum describes.
func Load(ctx context.Context, src Source, sum tinyhead.TaskSummary, opt Options) (*Dataset, error) {
	if opt.FromSQL {
		return loadKeysOnly(ctx, src, sum, opt)
	}
	return loadInMemory(ctx, src, sum, opt)
}

// LabelIndex returns the class of a label, and whether the task has it.
func (ds *Dataset) LabelIndex(label string) (int32, bool) {
	y, ok := ds.labelOf[label]
	return y, ok
}

// Check says whether every label has rows on both sides of the split, as
// training and a fair comparison of versions need; if not, the error is of
// kind tinyhead.ErrUnprocessable.
func (ds *Dataset) Check(task string) error {
	trainCounts := make([]int, len(ds.Labels))
	valCounts := make([]int, len(ds.Labels))
	for _, y := range ds.trainY {
		trainCounts[y]++
	}
	for _, y := range ds.ValY {
		valCounts[y]++
	}
	for i, l := range ds.Labels {
		if trainCounts[i] == 0 || valCounts[i] == 0 {
			return tinyhead.Errorf(tinyhead.ErrUnprocessable, "task %q: label %q has %d training and %d validation rows; each label needs both",
				task, l, trainCounts[i], valCounts[i])
		}
	}
	return nil
}

// Scan streams the rows a training run of the task takes, with their
// class and side of the split, without keeping them: the benchmark export
// writes exactly what Load reads. It returns the task's sorted labels.
func Scan(ctx context.Context, src Source, sum tinyhead.TaskSummary, opt Options,
	fn func(r tinyhead.LabeledRow, y int32, inValidation bool) error) ([]string, error) {
	ds := newDataset(sum, opt)
	return ds.Labels, scanTask(ctx, src, ds, sum, opt.ValFraction, fn)
}

// scanTask streams the rows a training run of the task takes, with their
// label index and side of the split: the rows of sum's labels, at most
// sum.Rows of them. A row labelled after the summary was read is left out —
// the data has changed since, so the next (nightly) training takes it — and
// every loader, and Scan, see the same rows.
func scanTask(ctx context.Context, data Source, ds *Dataset, sum tinyhead.TaskSummary, valFraction float64,
	fn func(r tinyhead.LabeledRow, y int32, inValidation bool) error) error {
	taken := 0
	return data.ScanLabeled(ctx, sum.Task, ds.EmbeddingModel, true, func(r tinyhead.LabeledRow) error {
		y, ok := ds.labelOf[r.Label]
		if !ok || taken == sum.Rows {
			return nil
		}
		if len(r.Embedding) != ds.Dim {
			return fmt.Errorf("document %d has a %d-d embedding, want %d", r.ID, len(r.Embedding), ds.Dim)
		}
		taken++
		return fn(r, y, InValidation(r.Source, r.Item, valFraction))
	})
}

// loadInMemory streams the task's rows from the store into one matrix of
// the summary's size: training rows fill it from the front, validation rows
// from the back, so memory is the data itself whatever the split.
func loadInMemory(ctx context.Context, data Source, sum tinyhead.TaskSummary, opt Options) (*Dataset, error) {
	ds := newDataset(sum, opt)
	dim := opt.Dim
	rows := sum.Rows
	x := make([]float32, rows*dim)
	y := make([]int32, rows)
	train, val := 0, 0
	err := scanTask(ctx, data, ds, sum, opt.ValFraction, func(r tinyhead.LabeledRow, label int32, inVal bool) error {
		ds.noteID(r.ID, inVal)
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
	ds.valX, ds.ValY = x[first*dim:], y[first:]
	ds.TrainRows, ds.ValRows = train, val
	ds.Scaler = mlp.FitScaler(ds.trainX, dim)
	return ds, nil
}

// gcEveryRows is how often loadInMemory collects the garbage the SQL
// driver leaves behind (a fresh copy of every row's embedding). Left to the
// pacer it would pile up to the size of the live heap, which here is the
// training matrix itself: the process would peak at twice the data. The
// matrix holds no pointers, so a collection costs little however large it
// is (BENCHMARKS.md, "training memory", has the measurements).
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
// (sqlBatches) and validation chunks (EachValidation) are read by id later.
func loadKeysOnly(ctx context.Context, data Source, sum tinyhead.TaskSummary, opt Options) (*Dataset, error) {
	ds := newDataset(sum, opt)
	ds.fromSQL = true
	fit := mlp.NewScalerFit(opt.Dim)
	err := scanTask(ctx, data, ds, sum, opt.ValFraction, func(r tinyhead.LabeledRow, y int32, inVal bool) error {
		if inVal {
			ds.valIDs = append(ds.valIDs, r.ID)
			ds.ValY = append(ds.ValY, y)
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
	ds.TrainRows, ds.ValRows = len(ds.trainIDs), len(ds.ValY)
	ds.Scaler = fit.Scaler()
	return ds, nil
}

// validationChunk is how many validation rows are scored at a time.
const validationChunk = 1024

// EachValidation calls fn on the validation rows (raw embeddings, and
// their sketches once LoadSketches has read them) in order, a chunk at a
// time; first is the index of the chunk's first row. In SQL mode the
// chunks are read by id, so memory does not grow with the validation set
// either.
func (ds *Dataset) EachValidation(ctx context.Context, data Source, fn func(first int, x []float32, sk mlp.Sparse) error) error {
	if ds.valIDs == nil {
		for first := 0; first < ds.ValRows; first += validationChunk {
			n := min(validationChunk, ds.ValRows-first)
			if err := fn(first, ds.valX[first*ds.Dim:(first+n)*ds.Dim], ds.valSk.Slice(first, first+n)); err != nil {
				return err
			}
		}
		return nil
	}
	buf := make([]float32, 0, min(validationChunk, ds.ValRows)*ds.Dim)
	for first := 0; first < len(ds.valIDs); first += validationChunk {
		ids := ds.valIDs[first:min(first+validationChunk, len(ds.valIDs))]
		vecs, err := data.EmbeddingsByID(ctx, ids)
		if err != nil {
			return fmt.Errorf("read validation rows: %w", err)
		}
		buf = buf[:0]
		for _, id := range ids {
			v := vecs[id]
			if len(v) != ds.Dim {
				return fmt.Errorf("read validation rows: document %d has no %d-d embedding (deleted since loading?)", id, ds.Dim)
			}
			buf = append(buf, v...)
		}
		var sk mlp.Sparse
		if ds.sqlSketches != nil {
			if sk, err = readSketches(ctx, ds.sqlSketches, ids); err != nil {
				return fmt.Errorf("read validation rows: %w", err)
			}
		}
		if err := fn(first, buf, sk); err != nil {
			return err
		}
	}
	return nil
}

// PredictValidation is the most probable class of every validation row
// under predict, which returns n rows of classes probabilities.
func (ds *Dataset) PredictValidation(ctx context.Context, data Source, classes int, predict func(x []float32, sk mlp.Sparse, n int) ([]float32, error)) ([]int32, error) {
	pred := make([]int32, ds.ValRows)
	err := ds.EachValidation(ctx, data, func(first int, x []float32, sk mlp.Sparse) error {
		n := len(x) / ds.Dim
		probs, err := predict(x, sk, n)
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

// Evaluate scores model (which takes raw embeddings: its scaler is folded
// in) on the validation rows.
func (ds *Dataset) Evaluate(ctx context.Context, data Source, model *mlp.Model) (mlp.Metrics, error) {
	probs := make([]float32, validationChunk*model.Classes)
	pred, err := ds.PredictValidation(ctx, data, model.Classes, func(x []float32, sk mlp.Sparse, n int) ([]float32, error) {
		model.Predict(x, sk, n, probs)
		return probs[:n*model.Classes], nil
	})
	if err != nil {
		return mlp.Metrics{}, err
	}
	return mlp.Assess(ds.ValY, pred, model.Classes, model.Labels), nil
}

func newDataset(sum tinyhead.TaskSummary, opt Options) *Dataset {
	ds := &Dataset{Dim: opt.Dim, labelOf: map[string]int32{}, EmbeddingModel: opt.Model}
	for l := range sum.Labels {
		ds.Labels = append(ds.Labels, l)
	}
	sort.Strings(ds.Labels)
	for i, l := range ds.Labels {
		ds.labelOf[l] = int32(i)
	}
	return ds
}

// Batches is the mini-batch source of a training run, standardised
// unless cfg.NoStandardize. In memory the training matrix is standardised
// in place (no copy; the trainer's parallel fast path for MemoryBatches
// stays), so it may be called once per dataset.
func (ds *Dataset) Batches(data Source, cfg mlp.Config) mlp.Batches {
	if ds.fromSQL {
		var b mlp.Batches = &sqlBatches{data: data, ids: ds.trainIDs, labels: ds.trainY, batchSize: cfg.BatchSize, dim: ds.Dim,
			rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed))}
		if !cfg.NoStandardize {
			b = mlp.ScaleBatches(b, ds.Scaler)
		}
		return b
	}
	if !cfg.NoStandardize {
		ds.Scaler.Apply(ds.trainX)
	}
	b := mlp.NewMemoryBatches(ds.trainX, ds.trainY, ds.Dim, cfg.BatchSize, cfg.Seed)
	if ds.loaded {
		b.WithSketch(ds.trainSk)
	}
	return b
}

// sqlBatches samples each mini-batch straight from the store: for tables
// larger than memory, only ids and labels are held.
type sqlBatches struct {
	data      Source
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
