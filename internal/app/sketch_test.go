package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/serving"
	"github.com/tinyhead/tinyhead/internal/sketch"
)

// codeCSV is a task only an exact word decides: every text is the same
// sentence about an order, and the label follows the order's code.
func codeCSV() []byte {
	var b bytes.Buffer
	b.WriteString("id,text,status\n")
	for i := range 60 {
		code, status := "QX7K", "held"
		if i%2 == 1 {
			code, status = "ZV3M", "shipped"
		}
		fmt.Fprintf(&b, "o%d,Order %d with reference %s was updated by the warehouse team on day %d.,%s\n", i, 1000+i*37, code, i%28+1, status)
	}
	return b.Bytes()
}

// TestClassifyUsesSketch: ingest stores each text's sketch, computed
// exactly as Classify computes it from the same text; a head that reads
// only the sketch is trained from the stored ones and Classify (ONNX
// Runtime, both inputs) answers by the code word. If Classify ignored the
// sketch, a sketch-only head would give every text the same answer.
func TestClassifyUsesSketch(t *testing.T) {
	f := newFixture(t)
	f.upload("orders.csv", codeCSV())
	if status, resp, res := f.trigger("orders.csv"); status != 200 || res.RowsOK != 60 {
		t.Fatalf("ingest: status %d, %+v, logs %v", status, res, resp.Logs)
	}

	out := f.train("status", map[string]any{"features": "sketch", "seed": 1})
	var man registry.Manifest
	if err := json.Unmarshal(f.modelBlob("status/"+out.Version+"/model.json"), &man); err != nil {
		t.Fatal(err)
	}
	if man.Sketch != sketch.Version || out.Hyperparams.Features != mlp.FeatureSketch {
		t.Fatalf("model.json names sketch %q, features %q", man.Sketch, out.Hyperparams.Features)
	}
	c := f.classify("status",
		"Order 9999 with reference QX7K was updated by the warehouse team on day 3.",
		"Order 9999 with reference ZV3M was updated by the warehouse team on day 3.")
	for i, want := range []string{"held", "shipped"} {
		if p := c.Predictions[i]; p.Label != want || p.Probabilities[want] < 0.8 {
			t.Errorf("text %d: %+v, want %s", i, p, want)
		}
	}

	// The stored sketches are the ones Classify computes.
	var ids []int64
	var texts []string
	for _, item := range []string{"o0", "o1", "o17"} {
		d := f.doc("incoming/orders.csv", item)
		ids = append(ids, d.ID)
		texts = append(texts, d.Text)
	}
	stored, err := f.store.SketchesByID(t.Context(), sketch.Version, ids)
	if err != nil {
		t.Fatal(err)
	}
	computed, err := serving.Sketches(&man, texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		idx, val := computed.Row(i)
		want := sketch.Encode(nil, sketch.Vector{Index: idx, Value: val})
		if len(want) == 0 || !bytes.Equal(stored[id], want) {
			t.Errorf("document %d: stored sketch of %d bytes, Classify's of %d differ", id, len(stored[id]), len(want))
		}
	}
}
