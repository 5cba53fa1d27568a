package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/tinyhead/tinyhead/internal/dataset"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
	"github.com/tinyhead/tinyhead/internal/training"
)

// Export writes a task's labelled rows exactly as Train sees them — the
// same documents in the same order, the same label indices and the same
// stable validation split — to files in dir, so that reference
// implementations (bench/: PyTorch, scikit-learn, fastText) train and
// score on identical data:
//
//	<task>.f32         rows×dim float32, little-endian, row-major (the embeddings)
//	<task>.tsv         one line per row: id, split ("train" or "val"), y (label index), label
//	<task>.texts.jsonl one JSON string per row: the document's text (only if data can
//	                   return documents, as sqlstore.Store can)
//	<task>.json        the summary: ExportSummary
//
// valFraction is Train's (0.2 by default).
func Export(ctx context.Context, data exportSource, task, model string, dim int, valFraction float64, dir string) (ExportSummary, error) {
	sum, err := training.Summary(ctx, data, task, model)
	if err != nil {
		return ExportSummary{}, fmt.Errorf("export: %w", err)
	}
	out := ExportSummary{Task: task, EmbeddingModel: model, Dim: dim, ValFraction: valFraction}
	docs, _ := data.(documentReader)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return out, err
	}
	files := []string{task + ".f32", task + ".tsv", task + ".texts.jsonl"}
	if docs == nil {
		files = files[:2]
	}
	var ws []*bufio.Writer
	var fs []*os.File
	for _, name := range files {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return out, err
		}
		defer f.Close()
		fs = append(fs, f)
		ws = append(ws, bufio.NewWriterSize(f, 1<<20))
	}
	fmt.Fprintf(ws[1], "id\tsplit\ty\tlabel\n")
	buf := make([]byte, 4*dim)
	out.Labels, err = dataset.Scan(ctx, data, sum, dataset.Options{Model: model, Dim: dim, ValFraction: valFraction}, func(r tinyhead.LabeledRow, y int32, side dataset.Side) error {
		for j, v := range r.Embedding {
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
		}
		ws[0].Write(buf)
		split := "train"
		switch side {
		case dataset.Validation:
			split = "val"
			out.Validation++
		case dataset.Test:
			split = "test"
			out.Test++
		default:
			out.Train++
		}
		fmt.Fprintf(ws[1], "%d\t%s\t%d\t%s\n", r.ID, split, y, r.Label)
		if docs != nil {
			doc, err := docs.GetDocument(ctx, r.Source, r.Item)
			if err != nil {
				return fmt.Errorf("text of document %d: %w", r.ID, err)
			}
			text, _ := json.Marshal(doc.Text)
			ws[2].Write(text)
			ws[2].WriteByte('\n')
		}
		out.Rows++
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("export task %s: %w", task, err)
	}
	for i, w := range ws {
		if err := errors.Join(w.Flush(), fs[i].Close()); err != nil {
			return out, err
		}
	}
	out.Texts = docs != nil
	meta, _ := json.MarshalIndent(out, "", "  ")
	return out, os.WriteFile(filepath.Join(dir, task+".json"), append(meta, '\n'), 0o644)
}

// ExportSummary describes an export: <task>.json.
type ExportSummary struct {
	Task           string   `json:"task"`
	EmbeddingModel string   `json:"embedding_model"`
	Dim            int      `json:"dim"`
	Labels         []string `json:"labels"` // label index y → label
	Rows           int      `json:"rows"`
	Train          int      `json:"train"`
	Validation     int      `json:"validation"`
	Test           int      `json:"test"`
	ValFraction    float64  `json:"val_fraction"`
	Texts          bool     `json:"texts"`
}

// exportSource is what Export reads: the rows as training reads them.
type exportSource interface {
	dataset.Source
	training.TaskLister
}

// documentReader is the part of a store that returns a document's text.
type documentReader interface {
	GetDocument(ctx context.Context, source, item string) (tinyhead.Document, error)
}
