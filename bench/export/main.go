// Command export writes the stored embeddings, labels, validation split
// and texts of a database's tasks to files (Export), for the
// reference implementations in bench/ to train on exactly what tinyhead
// trains on:
//
//	go run ./bench/export -db .cache/local/tinyhead.db -out /tmp/export
//
// It writes <task>.f32, <task>.tsv, <task>.texts.jsonl and <task>.json per
// task (see Export) and prints one summary line per task.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"strings"

	"github.com/tinyhead/tinyhead/internal/onnxembed"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
)

func main() {
	db := flag.String("db", ".cache/local/tinyhead.db", "the database: a SQLite file, or a sqlserver:// DSN with -driver sqlserver")
	driver := flag.String("driver", sqlstore.DriverSQLite, "sqlite or sqlserver")
	out := flag.String("out", "", "the directory to write to (required)")
	tasks := flag.String("tasks", "", "comma-separated tasks (default: every task)")
	model := flag.String("model", onnxembed.USELiteID, "the embedding model id")
	dim := flag.Int("dim", 512, "the embedding dimension")
	val := flag.Float64("val", 0.2, "the validation fraction (Train's default 0.2)")
	flag.Parse()
	if *out == "" {
		log.Fatal("export: -out is required")
	}
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, *driver, *db)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	var names []string
	if *tasks != "" {
		names = strings.Split(*tasks, ",")
	} else {
		all, err := store.Tasks(ctx, *model)
		if err != nil {
			log.Fatal(err)
		}
		for _, t := range all {
			names = append(names, t.Task)
		}
	}
	for _, task := range names {
		sum, err := Export(ctx, store, task, *model, *dim, *val, *out)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("export: task %s: %d rows (%d train, %d validation), labels %v, texts %v\n",
			sum.Task, sum.Rows, sum.Train, sum.Validation, sum.Labels, sum.Texts)
	}
}
