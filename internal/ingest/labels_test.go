package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/ingest"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// labelsOf returns the labels of a stored document.
func (e *env) labelsOf(name, item string) map[string]string {
	e.t.Helper()
	return e.mustDoc(name, item).Labels
}

// taskSummary returns the store's summary of one task.
func (e *env) taskSummary(task string) tinyhead.TaskSummary {
	e.t.Helper()
	sums, err := e.store.Tasks(e.ctx, e.emb.ModelID())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range sums {
		if s.Task == task {
			return s
		}
	}
	return tinyhead.TaskSummary{}
}

// TestLabelsFile: a file under _labels/ labels stored documents named by
// each kind of identifier, reports unknown documents and bad rows with
// their row and reason, embeds nothing and stores no document; its
// re-delivery changes nothing, and its new version applies again.
func TestLabelsFile(t *testing.T) {
	e := newEnv(t, 2) // several batches
	e.upload("reviews.csv", "id,text,sentiment\nr1,Great food,pos\nr2,Cold soup,neg\nr3,Shared text,pos\n")
	e.mustIngest("reviews.csv")
	e.upload("more.jsonl", `{"text": "Shared text"}`+"\n"+`{"id": "m2", "text": "Only here"}`+"\n")
	e.mustIngest("more.jsonl")
	idR2 := e.mustDoc("reviews.csv", "r2").ID
	calls := e.emb.calls

	labels := fmt.Sprintf(`document,source,item,text,topic,sentiment
%d,,,,food,
,reviews.csv,r1,,food,pos
,incoming/more.jsonl,m2,,misc,
,,,Shared text,dup,
999999,,,,x,
,reviews.csv,r9,,x,
,,,Never stored,x,
abc,,,,x,
,,,,x,
`, idR2)
	etag := e.upload("_labels/topics.csv", labels)
	res := e.mustIngest("_labels/topics.csv")
	if !res.LabelsOnly || res.Status != tinyhead.IngestDone || res.RowsOK != 4 || res.RowsRejected != 5 || res.Embedded != 0 {
		t.Fatalf("result %+v", res)
	}
	// r2: topic set, sentiment removed (an empty cell removes); r1: topic
	// set; m2: topic set; r3 and the first row of more.jsonl share their
	// text: topic set on both, r3's sentiment removed.
	if res.LabelsChanged != 7 {
		t.Errorf("%d labels changed, want 7", res.LabelsChanged)
	}
	if e.emb.calls != calls {
		t.Errorf("the embedder was called %d times for a labels file", e.emb.calls-calls)
	}
	for _, c := range []struct {
		name, item string
		want       map[string]string
	}{
		{"reviews.csv", "r1", map[string]string{"sentiment": "pos", "topic": "food"}},
		{"reviews.csv", "r2", map[string]string{"topic": "food"}},
		{"reviews.csv", "r3", map[string]string{"topic": "dup"}},
		{"more.jsonl", "#1", map[string]string{"topic": "dup"}},
		{"more.jsonl", "m2", map[string]string{"topic": "misc"}},
	} {
		if got := e.labelsOf(c.name, c.item); !maps.Equal(got, c.want) {
			t.Errorf("%s/%s: labels %v, want %v", c.name, c.item, got, c.want)
		}
	}
	wantRejects := []struct {
		row    int
		reason string
	}{
		{5, "no stored document with id 999999"},
		{6, `no stored document incoming/reviews.csv item "r9"`},
		{7, "no stored document with this text"},
		{8, `document "abc" is not a document id`},
		{9, "no document named"},
	}
	if len(res.Rejections) != len(wantRejects) {
		t.Fatalf("rejections %v", res.Rejections)
	}
	for i, w := range wantRejects {
		re := res.Rejections[i]
		if re.Row != w.row || !strings.Contains(re.Reason, w.reason) || re.File != "incoming/_labels/topics.csv" {
			t.Errorf("rejection %d: %v, want row %d: %s", i, re, w.row, w.reason)
		}
	}
	rec := e.record("_labels/topics.csv", etag)
	if rec.Status != tinyhead.IngestDone || rec.RowsOK != 4 || rec.RowsRejected != 5 ||
		!strings.Contains(rec.Error, "row 5: no stored document with id 999999") {
		t.Errorf("ingest record %+v", rec)
	}
	if docs, _ := e.documents(); docs != 5 {
		t.Errorf("%d documents, want 5: a labels file stores none", docs)
	}

	// Re-delivery changes nothing, not even a time stamp.
	before := e.taskSummary("topic")
	again := e.mustIngest("_labels/topics.csv")
	if !again.Redelivery || again.RowsOK != 4 {
		t.Errorf("re-delivery: %+v", again)
	}
	if after := e.taskSummary("topic"); !after.LastChange.Equal(before.LastChange) || after.Rows != before.Rows {
		t.Errorf("re-delivery changed the task: %+v, was %+v", after, before)
	}

	// A new version applies again: "" removes; labels it does not mention
	// stay; JSON Lines works alike.
	e.upload("_labels/topics.csv", fmt.Sprintf("document,topic\n%d,\n", idR2))
	if res := e.mustIngest("_labels/topics.csv"); res.RowsOK != 1 || res.LabelsChanged != 1 {
		t.Errorf("new version: %+v", res)
	}
	e.upload("_labels/more.jsonl", `{"source": "reviews.csv", "id": "r1", "labels": {"sentiment": "neg", "new": "yes"}}`+"\n")
	if res := e.mustIngest("_labels/more.jsonl"); res.RowsOK != 1 || res.LabelsChanged != 2 {
		t.Errorf("JSON Lines labels file: %+v", res)
	}
	if got := e.labelsOf("reviews.csv", "r2"); len(got) != 0 {
		t.Errorf("r2 after the new version: %v, want no labels", got)
	}
	if got := e.labelsOf("reviews.csv", "r1"); !maps.Equal(got, map[string]string{"sentiment": "neg", "topic": "food", "new": "yes"}) {
		t.Errorf("r1: %v", got)
	}
}

// mustDoc returns a stored document of blob name.
func (e *env) mustDoc(name, item string) tinyhead.Document {
	e.t.Helper()
	d, err := e.store.GetDocument(e.ctx, ingest.Source(container, name), item)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// TestLabelsFileUnreadable: a labels file that cannot be used at all fails
// for good, naming the reason, as any unreadable upload does.
func TestLabelsFileUnreadable(t *testing.T) {
	for name, content := range map[string]string{
		"_labels/notes.txt":   "document 1 is spam",
		"_labels/no-task.csv": "document\n1\n",
		"_labels/no-doc.csv":  "topic\nx\n",
	} {
		e := newEnv(t, 2)
		e.upload(name, content)
		_, err := e.ingest(name)
		var perm *ingest.PermanentError
		if !errors.As(err, &perm) {
			t.Errorf("%s: error %v, want a PermanentError", name, err)
		}
	}
}

// TestLabelsFileDeletedAndReplaced: deleting a labels file keeps the
// labels it set (they belong to documents of other files), and neither
// the deletion event nor the nightly reconciliation deletes a document.
// A new version of a document's own file replaces its labels, those a
// labels file set included: the file is the truth for its documents.
func TestLabelsFileDeletedAndReplaced(t *testing.T) {
	e := newEnv(t, 2)
	e.upload("reviews.csv", "id,text,sentiment\nr1,Great food,pos\nr2,Cold soup,neg\n")
	e.mustIngest("reviews.csv")
	etag := e.upload("_labels/t.csv", "source,item,topic\nreviews.csv,r1,food\nreviews.csv,r2,food\n")
	e.mustIngest("_labels/t.csv")

	e.deleteBlob("_labels/t.csv")
	rem, err := e.remover().Removed(e.ctx, container, "_labels/t.csv")
	if err != nil || rem.Deleted != 0 {
		t.Fatalf("Removed: %+v, %v", rem, err)
	}
	if rec := e.record("_labels/t.csv", etag); rec.Status != tinyhead.IngestDeleted {
		t.Errorf("record of the deleted labels file: %s, want deleted", rec.Status)
	}
	if _, err := e.remover().Reconcile(e.ctx, container); err != nil {
		t.Fatal(err)
	}
	if got := e.labelsOf("reviews.csv", "r1"); got["topic"] != "food" {
		t.Errorf("r1 after the labels file was deleted: %v, want topic=food kept", got)
	}
	if docs, _ := e.documents(); docs != 2 {
		t.Errorf("%d documents, want 2", docs)
	}

	// The documents' own file, new version: its labels are the truth.
	e.upload("reviews.csv", "id,text,sentiment,topic\nr1,Great food,pos,\nr2,Cold soup,neg,drinks\n")
	e.mustIngest("reviews.csv")
	if got := e.labelsOf("reviews.csv", "r1"); !maps.Equal(got, map[string]string{"sentiment": "pos"}) {
		t.Errorf("r1 after its file's new version: %v", got)
	}
	if got := e.labelsOf("reviews.csv", "r2"); got["topic"] != "drinks" {
		t.Errorf("r2 after its file's new version: %v", got)
	}
}

// TestProgressRecorded: while an ingest runs, its record holds the rows
// stored so far (what GET /api/ingests shows), and the final count once
// it is done.
func TestProgressRecorded(t *testing.T) {
	e := newEnv(t, 2)
	e.p.ProgressEvery = time.Nanosecond // record after every batch
	release := make(chan struct{})
	var calls atomic.Int32
	e.emb.embed = func(ctx context.Context, texts []string) ([][]float32, error) {
		if calls.Add(1) == 2 { // the second batch waits
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return e.emb.Embedder.Embed(ctx, texts)
	}
	etag := e.upload("big.jsonl", jsonl("1", "one", "2", "two", "3", "three", "4", "four", "5", "five"))
	done := make(chan ingest.Result)
	go func() {
		res, _ := e.ingest("big.jsonl")
		done <- res
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, err := e.store.GetIngest(e.ctx, ingest.Source(container, "big.jsonl"), etag)
		if err == nil && rec.Status == tinyhead.IngestRunning && rec.RowsOK == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("record while the second batch waits: %+v, %v; want running with 2 rows", rec, err)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	res := <-done
	if rec := e.record("big.jsonl", etag); rec.Status != tinyhead.IngestDone || rec.RowsOK != 5 || res.RowsOK != 5 {
		t.Errorf("record after: %+v (result %+v)", rec, res)
	}
}
