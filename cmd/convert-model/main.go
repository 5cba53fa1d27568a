// Command convert-model is a set-up step (scripts/setup.sh runs it): it
// converts the default embedding model, Universal Sentence Encoder Lite in
// TensorFlow.js format, into the ONNX model directory the handler reads.
//
//	convert-model --src DIR --out DIR
//
// --src holds the TF.js model (model.json, weight shards, vocab.json); --out
// receives model.onnx, vocab.json and model.json, replacing what is there.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/tinyhead/tinyhead/internal/uselite"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "convert-model:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("convert-model", flag.ContinueOnError)
	src := fs.String("src", "", "directory of the TF.js model (model.json, shards, vocab.json)")
	out := fs.String("out", "", "model directory to write (model.onnx, vocab.json, model.json)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *src == "" || *out == "" || fs.NArg() > 0 {
		return errors.New("usage: convert-model --src DIR --out DIR")
	}
	info, err := uselite.Convert(*src, *out)
	if err != nil {
		return err
	}
	fmt.Printf("converted %s (%d-d) into %s\n", info.ID, info.Dim, *out)
	return nil
}
