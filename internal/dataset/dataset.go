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
	// EmbeddingsByID returns the embeddings of model of the given documents.
	EmbeddingsByID(ctx context.Context, model string, ids []int64) (map[int64][]float32, error)
}

// Side is where a row goes in a training run.
type Side int8

const (
	// Train rows are trained on.
	Train Side = iota
	// Validation rows score the candidate and the current model for
	// promotion, and choose a binary task's decision threshold.
	Validation
	// Test rows (marked "split": "test") are never trained or validated
	// on: every version is only scored on them, for the report.
	Test
)

func (s Side) String() string {
	return [...]string{"train", "validation", "test"}[s]
}

// SideOf is the stable split: a row marked test is a test row; the others
// go to validation when their group hashes below fraction. Rows of one
// group always land on the same side, and a group's side depends on its
// name alone, never on the other rows or their order, so the validation
// set of a task does not change between retrains (new groups join one
// side or the other). A row without a group is a group of its own, keyed
// by its (source, item) identity — for a one-document file, its blob —
// hashed as before groups existed, so older tasks keep their split.
func SideOf(r tinyhead.LabeledRow, fraction float64) Side {
	switch {
	case r.Test:
		return Test
	case inValidation(r.Source, r.Item, r.Group, fraction):
		return Validation
	}
	return Train
}

// inValidation hashes a row's group key: its named group, or else its
// identity. A source is never empty, so the leading NUL keeps the two
// kinds of key apart.
func inValidation(source, item, group string, fraction float64) bool {
	h := fnv.New64a()
	if group != "" {
		h.Write([]byte{0})
		h.Write([]byte(group))
	} else {
		h.Write([]byte(source))
		h.Write([]byte{0})
		h.Write([]byte(item))
	}
	return float64(h.Sum64()%10000) < fraction*10000
}

// Dataset is a task's labelled rows split into training, validation and
// test rows. In memory mode the rows are held in matrices; in SQL mode
// only ids and labels are kept (12 bytes a row), and training batches and
// held-out chunks are read from the store when they are needed.
type Dataset struct {
	// Labels are the task's labels, sorted; a class is an index into it.
	Labels []string
	// Dim is the embeddings' length and EmbeddingModel their model.
	Dim            int
	EmbeddingModel string
	// TrainRows, ValRows and TestRows count the rows on each side.
	TrainRows, ValRows, TestRows int
	// ValY and TestY are the classes of the held-out rows, in id order.
	ValY, TestY []int32
	// TrainCounts counts the training rows of each class.
	TrainCounts []int
	// Scaler standardises inputs; it is fitted on the training rows.
	Scaler mlp.Scaler

	trainX, valX, testX []float32 // in memory mode
	trainY              []int32
	trainIDs            []int64 // SQL mode
	valIDs, testIDs     []int64 // both modes: versions of other embeddings are scored by id
	fromSQL             bool
	labelOf             map[string]int32
	sketches            // the rows' sketches, once LoadSketches has read them
}

// Options say how to load a dataset.
type Options struct {
	// Model and Dim are the embedding model to train on and its length.
	Model string
	Dim   int
	// ValFraction is the share of groups (documents without one) on the
	// validation side, test rows aside.
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

// Check says whether every label has rows on both the training and the
// validation side, as training and a fair comparison of versions need; if
// not, the error is of kind tinyhead.ErrUnprocessable. (Test rows are
// optional.)
func (ds *Dataset) Check(task string) error {
	valCounts := make([]int, len(ds.Labels))
	for _, y := range ds.ValY {
		valCounts[y]++
	}
	for i, l := range ds.Labels {
		if ds.TrainCounts[i] == 0 || valCounts[i] == 0 {
			return tinyhead.Errorf(tinyhead.ErrUnprocessable, "task %q: label %q has %d training and %d validation rows; each label needs both",
				task, l, ds.TrainCounts[i], valCounts[i])
		}
	}
	return nil
}

// countTrain sets TrainCounts from the training rows' classes.
func (ds *Dataset) countTrain() {
	ds.TrainCounts = make([]int, len(ds.Labels))
	for _, y := range ds.trainY {
		ds.TrainCounts[y]++
	}
}

// Scan streams the rows a training run of the task takes, with their
// class and side of the split, without keeping them: the benchmark export
// writes exactly what Load reads. It returns the task's sorted labels.
func Scan(ctx context.Context, src Source, sum tinyhead.TaskSummary, opt Options,
	fn func(r tinyhead.LabeledRow, y int32, side Side) error) ([]string, error) {
	ds := newDataset(sum, opt)
	return ds.Labels, scanTask(ctx, src, ds, sum, opt.ValFraction, fn)
}

// scanTask streams the rows a training run of the task takes, with their
// label index and side of the split: the rows of sum's labels, at most
// sum.Rows of them. A row labelled after the summary was read is left out —
// the data has changed since, so the next (nightly) training takes it — and
// every loader, and Scan, see the same rows.
func scanTask(ctx context.Context, data Source, ds *Dataset, sum tinyhead.TaskSummary, valFraction float64,
	fn func(r tinyhead.LabeledRow, y int32, side Side) error) error {
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
		return fn(r, y, SideOf(r, valFraction))
	})
}

// loadInMemory streams the task's rows from the store into one matrix of
// the summary's size: training rows fill it from the front, validation rows
// from the back, so memory is the data itself whatever the split. Test
// rows, usually few, are appended to a matrix of their own.
func loadInMemory(ctx context.Context, data Source, sum tinyhead.TaskSummary, opt Options) (*Dataset, error) {
	ds := newDataset(sum, opt)
	dim := opt.Dim
	rows := sum.Rows
	x := make([]float32, rows*dim)
	y := make([]int32, rows)
	train, val := 0, 0
	err := scanTask(ctx, data, ds, sum, opt.ValFraction, func(r tinyhead.LabeledRow, label int32, side Side) error {
		k := train
		switch side {
		case Test:
			ds.testX = append(ds.testX, r.Embedding...)
			ds.TestY = append(ds.TestY, label)
			ds.testIDs = append(ds.testIDs, r.ID)
			return nil
		case Validation:
			val++
			k = rows - val
			ds.valIDs = append(ds.valIDs, r.ID) // in id order: only the vectors go in back to front
		default:
			train++
			ds.memTrainIDs = append(ds.memTrainIDs, r.ID)
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
	ds.TrainRows, ds.ValRows, ds.TestRows = train, val, len(ds.TestY)
	ds.countTrain()
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
	err := scanTask(ctx, data, ds, sum, opt.ValFraction, func(r tinyhead.LabeledRow, y int32, side Side) error {
		switch side {
		case Test:
			ds.testIDs = append(ds.testIDs, r.ID)
			ds.TestY = append(ds.TestY, y)
		case Validation:
			ds.valIDs = append(ds.valIDs, r.ID)
			ds.ValY = append(ds.ValY, y)
		default:
			ds.trainIDs = append(ds.trainIDs, r.ID)
			ds.trainY = append(ds.trainY, y)
			fit.Add(r.Embedding)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load keys of task %s: %w", sum.Task, err)
	}
	ds.TrainRows, ds.ValRows, ds.TestRows = len(ds.trainIDs), len(ds.ValY), len(ds.TestY)
	ds.countTrain()
	ds.Scaler = fit.Scaler()
	return ds, nil
}

// validationChunk is how many held-out rows are scored at a time.
const validationChunk = 1024

// Y is the class of every row of a held-out side, in id order.
func (ds *Dataset) Y(side Side) []int32 {
	if side == Test {
		return ds.TestY
	}
	return ds.ValY
}

// Each calls fn on the rows (raw embeddings) of a held-out side
// (Validation or Test) in order, a chunk at a time; first is the index of
// the chunk's first row. In SQL mode the chunks are read by id, so memory
// does not grow with the held-out rows either.
func (ds *Dataset) Each(ctx context.Context, data Source, side Side, fn func(first int, x []float32) error) error {
	x, ids, n := ds.valX, ds.valIDs, ds.ValRows
	if side == Test {
		x, ids, n = ds.testX, ds.testIDs, ds.TestRows
	}
	if !ds.fromSQL {
		for first := 0; first < n; first += validationChunk {
			m := min(validationChunk, n-first)
			if err := fn(first, x[first*ds.Dim:(first+m)*ds.Dim]); err != nil {
				return err
			}
		}
		return nil
	}
	err := eachByID(ctx, data, side, ids, ds.EmbeddingModel, ds.Dim, fn)
	if tinyhead.KindOf(err) == tinyhead.ErrInvalid {
		return fmt.Errorf("%w (deleted since loading?)", err)
	}
	return err
}

// eachByID calls fn on model's vectors (of length dim) of the documents
// ids, read a chunk at a time. A document without one is an error of kind
// tinyhead.ErrInvalid.
func eachByID(ctx context.Context, data Source, side Side, ids []int64, model string, dim int, fn func(first int, x []float32) error) error {
	buf := make([]float32, 0, min(validationChunk, len(ids))*dim)
	for first := 0; first < len(ids); first += validationChunk {
		chunk := ids[first:min(first+validationChunk, len(ids))]
		vecs, err := data.EmbeddingsByID(ctx, model, chunk)
		if err != nil {
			return fmt.Errorf("read %s rows: %w", side, err)
		}
		buf = buf[:0]
		for _, id := range chunk {
			v := vecs[id]
			if len(v) != dim {
				return tinyhead.Errorf(tinyhead.ErrInvalid, "read %s rows: document %d has no %d-d embedding of %s", side, id, dim, model)
			}
			buf = append(buf, v...)
		}
		if err := fn(first, buf); err != nil {
			return err
		}
	}
	return nil
}

// EachValidation is Each on the validation rows.
func (ds *Dataset) EachValidation(ctx context.Context, data Source, fn func(first int, x []float32) error) error {
	return ds.Each(ctx, data, Validation, fn)
}

// Predict is a model run on n rows: their embeddings x and, once
// LoadSketches has read them, their sketches; it returns n rows of class
// probabilities.
type Predict = func(x []float32, sk mlp.Sparse, n int) ([]float32, error)

// Probabilities runs predict on the rows of a held-out side and returns
// all of them, row after row.
func (ds *Dataset) Probabilities(ctx context.Context, data Source, side Side, classes int, predict Predict) ([]float32, error) {
	return ds.probabilities(ds.Dim, side, classes, predict, func(fn func(int, []float32) error) error {
		return ds.Each(ctx, data, side, fn)
	})
}

// ProbabilitiesOf is Probabilities on the vectors of another embedding
// model (of length dim) of the same rows: a version trained on other
// embeddings is compared on the same split. A row without such a vector
// is an error of kind tinyhead.ErrInvalid (its text was not embedded by
// that model: re-embed first).
func (ds *Dataset) ProbabilitiesOf(ctx context.Context, data Source, side Side, model string, dim, classes int,
	predict Predict) ([]float32, error) {
	if model == ds.EmbeddingModel {
		return ds.Probabilities(ctx, data, side, classes, predict)
	}
	ids := ds.valIDs
	if side == Test {
		ids = ds.testIDs
	}
	return ds.probabilities(dim, side, classes, predict, func(fn func(int, []float32) error) error {
		return eachByID(ctx, data, side, ids, model, dim, fn)
	})
}

// probabilities runs predict on every chunk of dim-wide rows that each
// yields, with the chunk's sketches.
func (ds *Dataset) probabilities(dim int, side Side, classes int, predict Predict,
	each func(func(first int, x []float32) error) error) ([]float32, error) {
	out := make([]float32, len(ds.Y(side))*classes)
	err := each(func(first int, x []float32) error {
		n := len(x) / dim
		probs, err := predict(x, ds.heldOutSketches(side, first, n), n)
		if err != nil {
			return err
		}
		if len(probs) != n*classes {
			return fmt.Errorf("%d probabilities for %d rows of %d classes", len(probs), n, classes)
		}
		copy(out[first*classes:], probs)
		return nil
	})
	return out, err
}

// ModelPredict adapts a model (which takes raw embeddings: its scaler is
// folded in) to Probabilities.
func ModelPredict(model *mlp.Model) Predict {
	probs := make([]float32, validationChunk*model.Classes)
	return func(x []float32, sk mlp.Sparse, n int) ([]float32, error) {
		model.Predict(x, sk, n, probs)
		return probs[:n*model.Classes], nil
	}
}

// Evaluate scores model's most probable class on the validation rows.
func (ds *Dataset) Evaluate(ctx context.Context, data Source, model *mlp.Model) (mlp.Metrics, error) {
	probs, err := ds.Probabilities(ctx, data, Validation, model.Classes, ModelPredict(model))
	if err != nil {
		return mlp.Metrics{}, err
	}
	pred := make([]int32, ds.ValRows)
	for i := range pred {
		pred[i] = int32(mlp.Argmax(probs[i*model.Classes : (i+1)*model.Classes]))
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
		var b mlp.Batches = &sqlBatches{data: data, model: ds.EmbeddingModel, ids: ds.trainIDs, labels: ds.trainY, batchSize: cfg.BatchSize, dim: ds.Dim,
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
	if ds.loaded && !ds.fromSQL {
		b.WithSketch(ds.trainSk)
	}
	return b
}

// sqlBatches samples each mini-batch straight from the store: for tables
// larger than memory, only ids and labels are held.
type sqlBatches struct {
	data      Source
	model     string
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
	vecs, err := b.data.EmbeddingsByID(ctx, b.model, ids)
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
