// Package tinyhead holds the domain types shared by every other package:
// documents and their embeddings, ingests of blob versions, and the two
// interfaces the rest of the app is built around — Store (the SQL database)
// and Embedder (the sentence-embedding model).
//
// It depends on nothing but the standard library, so that every
// implementation package (sqlstore, onnxembed, blobstore, …) can import it
// without import cycles.
package tinyhead

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// Document is one text, its embeddings and its labels.
//
// A document's identity is (Source, Item): Source is the blob path it came
// from (for example "incoming/reviews.csv") and Item is the item id given in
// the file, or the row/line number when the file gives none.
type Document struct {
	ID            int64
	Source        string
	Item          string
	SourceVersion string // ETag of the blob version the row was last written from
	ContentHash   string // ContentHash(Text)
	Text          string
	// Embeddings holds the text's vector for each embedding model, by
	// model id. The store keeps one vector per (model, content hash), so
	// documents with the same text share it; writing a document adds the
	// vectors of models it does not have yet and keeps the others.
	Embeddings map[string][]float32
	// Labels maps task → label. When writing, a task mapped to "" removes
	// that task's label (an empty CSV cell in a newer version of a file).
	Labels map[string]string
	// Group names the related documents (passages of one text, messages
	// of one thread) that the validation split keeps on one side; "" means
	// the document is a group of its own (for a one-document file, its
	// blob). Names are global: one group may span files.
	Group string
	// Test marks a held-out test document ("split": "test" in the file):
	// training never trains or validates on it, only reports its score.
	Test      bool
	CreatedAt time.Time
}

// ContentHash is the hex SHA-256 of a text: identical texts share one
// embedding per embedding model.
func ContentHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// IngestStatus is the state of one blob version in the ingests table.
type IngestStatus string

const (
	// IngestRunning: an attempt started and has not finished (or crashed).
	IngestRunning IngestStatus = "running"
	// IngestDone: every row was stored or rejected with a reason.
	IngestDone IngestStatus = "done"
	// IngestFailed: the file could not be read at all (binary, no text
	// column, …). Re-deliveries of this version fail fast with Error.
	IngestFailed IngestStatus = "failed"
	// IngestDeleted: the blob was deleted and its rows with it
	// (Store.DeleteSource). An attempt at this version that begins later
	// (one that opened the blob just before it went) does nothing.
	IngestDeleted IngestStatus = "deleted"
	// IngestSuperseded: a newer version of the blob was claimed before this
	// one finished; this version wrote nothing after that, and never will.
	IngestSuperseded IngestStatus = "superseded"
)

// BlobVersion is one version of a source blob. Versions of a source are
// ordered by Modified (the blob's LastModified), never by when a version's
// trigger arrives. LastModified has a resolution of one second, so two
// versions may tie: then the claimed one stands, unless the caller names
// it in Overtakes, having seen that this version replaced it (the blob's
// current version, read after the tie was found, is this one).
type BlobVersion struct {
	Source    string
	ETag      string
	Modified  time.Time
	Overtakes string // the ETag of a claimed version with the same Modified that this one replaced
}

// Normalized returns v with Modified in UTC, truncated to the microsecond
// that every store keeps.
func (v BlobVersion) Normalized() BlobVersion {
	v.Modified = v.Modified.UTC().Truncate(time.Microsecond)
	return v
}

// Replaces reports whether v comes after the claimed version o: it was
// modified later, or at the same time and names o in Overtakes.
func (v BlobVersion) Replaces(o BlobVersion) bool {
	v, o = v.Normalized(), o.Normalized()
	if !v.Modified.Equal(o.Modified) {
		return v.Modified.After(o.Modified)
	}
	return v.Overtakes != "" && v.Overtakes == o.ETag
}

var (
	// ErrSuperseded: a newer version of the source was claimed (by
	// BeginIngest), so this version may no longer write or prune its rows.
	// Nothing is left to retry. Of kind ErrConflict.
	ErrSuperseded = WithKind(ErrConflict, errors.New("a newer version of the source was claimed"))
	// ErrIngestBusy: another attempt holds a live lease on this blob
	// version; wait for it and ask again. Of kind ErrConflict.
	ErrIngestBusy = WithKind(ErrConflict, errors.New("another attempt is ingesting this version"))
)

// Ingest is the record of one blob version: how re-deliveries and poison
// files are recognised.
type Ingest struct {
	// ID numbers the records in the order they were created (ListIngests
	// lists the newest first).
	ID           int64
	Source       string
	ETag         string
	Status       IngestStatus
	RowsOK       int
	RowsRejected int
	Error        string // failure reason, or a summary of rejected rows
	// Attempts counts the attempts that held the version's lease, and the
	// re-deliveries of a finished version; the lease holder's number is
	// its token for RenewIngest.
	Attempts  int
	Modified  time.Time // the version's LastModified (see BlobVersion)
	StartedAt time.Time
	UpdatedAt time.Time
	// LeaseUntil: while the version is running, the attempt numbered
	// Attempts holds it until then; another attempt may take it over
	// afterwards (the holder crashed).
	LeaseUntil time.Time
	// Claimed is set by BeginIngest when it returns a superseded record:
	// the version claimed for the source then. It is not stored.
	Claimed BlobVersion
}

// Store is the SQL database behind tinyhead: SQLite locally, Azure SQL /
// SQL Server in production. Every method is safe for concurrent use.
type Store interface {
	// BeginIngest starts an attempt at a blob version, in one transaction:
	//
	//   - it claims the source for v if v replaces the claimed version
	//     (BlobVersion.Replaces; the claim only moves forward); a claim
	//     marks the running records of the source's other versions
	//     superseded;
	//   - a version that does not replace the claimed one is recorded
	//     superseded, and the record's Claimed names the claimed version;
	//   - a version already done, failed or superseded has only its
	//     Attempts counted, and the record tells the caller so;
	//   - a running version whose lease is live (another attempt is at
	//     work) is left alone: the record is returned with an error
	//     wrapping ErrIngestBusy;
	//   - otherwise (a new version, one whose lease expired because its
	//     attempt crashed, or a superseded one that overtakes the claimed
	//     version) the caller gets the lease for the given duration, as
	//     attempt number Attempts, and the record is running.
	BeginIngest(ctx context.Context, v BlobVersion, lease time.Duration) (Ingest, error)
	// RenewIngest extends the lease of attempt number attempt of a running
	// version. It fails with ErrSuperseded when a newer version was claimed
	// meanwhile, and with another ErrConflict when the attempt no longer
	// holds the lease.
	RenewIngest(ctx context.Context, source, etag string, attempt int, lease time.Duration) error
	// FinishIngest stores the outcome of an attempt.
	FinishIngest(ctx context.Context, in Ingest) error
	// GetIngest returns the record of one blob version, or ErrNotFound.
	GetIngest(ctx context.Context, source, etag string) (Ingest, error)
	// IngestProgress records how many rows the running attempt number
	// attempt has stored so far (RowsOK), so that a watcher sees it move.
	// An attempt that no longer holds the version changes nothing; that is
	// no error (its next write will fail on its own).
	IngestProgress(ctx context.Context, source, etag string, attempt, rowsOK int) error
	IngestLister

	// EmbeddingsByHash returns the stored embeddings, for the given model,
	// of whichever of the content hashes are already known.
	EmbeddingsByHash(ctx context.Context, model string, hashes []string) (map[string][]float32, error)
	// PutDocuments upserts documents (by Source, Item) and their labels in
	// one transaction. A document written by another SourceVersion than the
	// stored one replaces the stored labels (tasks it does not mention lose
	// theirs); within one version, tasks not mentioned keep their labels.
	// When a version of a document's source is claimed (BeginIngest) and
	// it is not the document's SourceVersion, nothing is written and the
	// error wraps ErrSuperseded: an older version never overwrites a newer.
	PutDocuments(ctx context.Context, docs []Document) error
	// PruneSource deletes the documents of source that were not written by
	// the given version: a new version of a blob replaces the old one's
	// rows. Like PutDocuments, it fails with ErrSuperseded, deleting
	// nothing more, once a version other than keepVersion is claimed.
	PruneSource(ctx context.Context, source, keepVersion string) (deleted int, err error)
	// SourceVersions lists the versions (ETags) of source that the store
	// knows: those of its documents and of its ingest records, sorted.
	SourceVersions(ctx context.Context, source string) ([]string, error)
	// DeleteSource deletes the documents of source written by one of
	// versions (their labels go with them, and the embeddings that no
	// document uses any more) and marks the
	// ingest records of those versions IngestDeleted, so that an attempt
	// at one of them that begins later does nothing. Rows and records of
	// other versions are kept: taking versions from SourceVersions before
	// storage says the blob is gone keeps a version uploaded meanwhile. It
	// returns how many documents it deleted; nothing to delete is no error.
	DeleteSource(ctx context.Context, source string, versions []string) (deleted int, err error)
	// Sources lists the distinct sources that have documents, in byte
	// order.
	Sources(ctx context.Context) ([]string, error)
	// GetDocument returns one document with its labels, or ErrNotFound.
	GetDocument(ctx context.Context, source, item string) (Document, error)
	// SetLabel sets (or, with label "", removes) one task's label on a stored
	// document without re-embedding it.
	SetLabel(ctx context.Context, source, item, task, label string) error
	Labeler
	// Stats counts documents and labels.
	Stats(ctx context.Context) (Stats, error)

	TrainingData
	Predictions
	Backfill
	SketchStore
	Close() error
}

// IngestFilter selects ingest records to list.
type IngestFilter struct {
	Source string       // only this source's versions ("": every source)
	Prefix string       // only sources whose name starts with this, e.g. a folder "incoming/_labels/" ("": every source)
	Status IngestStatus // only records of this status ("": every status)
	Before int64        // only records whose ID is smaller (0: from the newest): the next page
	Limit  int          // at most this many (0: MaxIngestsListed)
}

// MaxIngestsListed bounds one ListIngests call.
const MaxIngestsListed = 1000

// IngestLister lists ingest records.
type IngestLister interface {
	// ListIngests returns the records that f selects, newest (highest ID)
	// first.
	ListIngests(ctx context.Context, f IngestFilter) ([]Ingest, error)
}

// SketchStore keeps the texts' lexical sketches (internal/sketch), encoded
// (sketch.Encode), by content hash: identical texts share one. version is
// the featurizer's (sketch.Version): a sketch of another one is stale.
type SketchStore interface {
	// PutSketches stores sketches by content hash; one of another version
	// is replaced. Safe to repeat.
	PutSketches(ctx context.Context, version string, sketches map[string][]byte) error
	// SketchesByID returns the sketches of the given documents; a document
	// without one of version is absent.
	SketchesByID(ctx context.Context, version string, ids []int64) (map[int64][]byte, error)
	// MissingSketches returns the texts, by content hash, of up to limit
	// documents labelled for task (of any document when task is "") that
	// have no sketch of version: what a backfill computes next.
	MissingSketches(ctx context.Context, task, version string, limit int) (map[string]string, error)
}

// Stats summarises the store's contents.
type Stats struct {
	Documents int
	// ByModel counts, per embedding model, the documents that hold a
	// vector of it.
	ByModel map[string]int
	// Labels counts labelled documents per task and label.
	Labels map[string]map[string]int
}

// Embedder turns texts into fixed-size embeddings.
type Embedder interface {
	// ModelID names the model; it is stored with every embedding so that
	// vectors from two models never mix.
	ModelID() string
	// Dim is the length of every embedding.
	Dim() int
	// Embed returns exactly one embedding per text, in order. Every text
	// must be non-empty after whitespace is trimmed.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// LabeledRow is one labelled document of a task, as training reads it.
type LabeledRow struct {
	ID     int64
	Source string
	Item   string
	Label  string
	// Group and Test are the document's (see Document).
	Group string
	Test  bool
	// Embedding is nil when the caller asked for keys only.
	Embedding []float32
}

// TaskSummary describes a task's labelled data for one embedding model.
type TaskSummary struct {
	Task   string
	Rows   int
	Labels map[string]int // rows per label
	// LastChange is the latest time a labelled document of the task, or
	// one of its labels, was written: a model older than that is stale.
	LastChange time.Time
}

// ModelRecord is a trained model in the models table.
type ModelRecord struct {
	Task      string
	Version   string
	CreatedAt time.Time
	Rows      int
	Metrics   string // JSON
	BlobPath  string
	Promoted  bool
}

// TrainingData is what training reads from and records in the store.
type TrainingData interface {
	// Tasks summarises every task with labelled documents embedded by model.
	Tasks(ctx context.Context, model string) ([]TaskSummary, error)
	// ScanLabeled streams the labelled documents of a task embedded by
	// model, in id order, a page at a time; withVectors false leaves
	// Embedding nil (cheap: keys and labels only). A row's Embedding is
	// valid only while fn runs (the store reuses its memory): fn copies
	// what it keeps.
	ScanLabeled(ctx context.Context, task, model string, withVectors bool, fn func(LabeledRow) error) error
	// EmbeddingsByID returns the embeddings, by model, of the given
	// documents; documents without one are absent.
	EmbeddingsByID(ctx context.Context, model string, ids []int64) (map[int64][]float32, error)
	// RecordModel adds a trained model to the models table.
	RecordModel(ctx context.Context, m ModelRecord) error
	// PromoteModel marks a task's promoted version (and no other).
	PromoteModel(ctx context.Context, task, version string) error
	// Models lists a task's models, oldest first.
	Models(ctx context.Context, task string) ([]ModelRecord, error)
}

// Prediction is a task's current model's answer for one stored document:
// a row of the predictions table, which batch scoring writes.
type Prediction struct {
	DocumentID int64
	Task       string
	Version    string // the model version that scored the document
	Label      string // the predicted label
	// Probability is the predicted label's; Margin is how far the answer
	// is from changing (small: the model is unsure; see
	// registry.Manifest.Margin): the gap between the two highest
	// probabilities, or for a binary version with a decision threshold
	// twice the distance of its label's probability from it.
	Probability float64
	Margin      float64
	// Probabilities is every label's probability as a compact JSON object,
	// {"ham":0.0123,"spam":0.9877}, so that SQL can read it
	// (json_extract, JSON_VALUE).
	Probabilities string
	// ScoredAt is a time before the document was read for scoring (the
	// start of the scoring pass): a document rewritten after it is scored
	// again.
	ScoredAt time.Time
}

// ScoreRow is a document to score: its id and embedding, and its text's
// encoded sketch when the scan asks for one.
type ScoreRow struct {
	ID        int64
	Embedding []float32
	// Sketch is the text's stored sketch of the scan's featurizer version;
	// HasSketch is false when there is none (or none was asked for).
	Sketch    []byte
	HasSketch bool
}

// Suggestion is an unlabelled document with its prediction: a candidate
// for labelling next.
type Suggestion struct {
	Prediction
	Source string
	Item   string
	Text   string
}

// Predictions is the predictions table: batch scoring writes it, and the
// "label next" list reads it.
type Predictions interface {
	// ScanUnscored calls fn with pages of the documents embedded by model
	// that have no prediction of task by version made after the document
	// was last written (ScoredAt ≥ its update), in id order, with their
	// sketches of featurizer version sketch unless sketch is "". A page's
	// rows (their Embedding included) are fn's only while it runs; fn may
	// write predictions, and the next page starts after the page's last
	// id. A page may be read from a snapshot taken before fn's earlier
	// calls (SQLite reads several pages in one read transaction): a
	// prediction's ScoredAt is a time before the scan started. An error
	// from fn stops the scan and is returned as it is.
	ScanUnscored(ctx context.Context, task, version, model, sketch string, fn func(page []ScoreRow) error) error
	// CountUnscored counts what ScanUnscored would visit.
	CountUnscored(ctx context.Context, task, version, model string) (int, error)
	// PutPredictions writes one page of predictions, all of one task and
	// version and in ascending DocumentID order, replacing the task's
	// earlier predictions of those documents. A document deleted meanwhile
	// is skipped.
	PutPredictions(ctx context.Context, preds []Prediction) error
	// DeletePredictions deletes the task's predictions of every version but
	// keepVersion ("" deletes them all).
	DeletePredictions(ctx context.Context, task, keepVersion string) (int, error)
	// PredictionsOf returns the task's predictions of the given documents;
	// documents without one are absent.
	PredictionsOf(ctx context.Context, task string, ids []int64) (map[int64]Prediction, error)
	// Uncertain returns up to n documents that have a prediction of task
	// by version but no label for task, smallest Margin first (ties by id).
	Uncertain(ctx context.Context, task, version string, n int) ([]Suggestion, error)
}
