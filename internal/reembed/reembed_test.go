package reembed_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/inmem"
	"github.com/tinyhead/tinyhead/internal/reembed"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// countingEmbedder counts the texts it embeds, by text.
type countingEmbedder struct {
	tinyhead.Embedder
	mu   sync.Mutex
	seen map[string]int
	fail error
}

func (e *countingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail != nil {
		return nil, e.fail
	}
	for _, t := range texts {
		e.seen[t]++
	}
	return e.Embedder.Embed(ctx, texts)
}

func setup(t *testing.T, n int) (*inmem.Store, tinyhead.Embedder, *countingEmbedder) {
	t.Helper()
	store := inmem.NewStore()
	def := inmem.NewEmbedder(8)
	docs := make([]tinyhead.Document, n)
	for i := range docs {
		text := fmt.Sprint("text ", i%(n-1)) // the last repeats the first
		v, _ := def.Embed(t.Context(), []string{text})
		docs[i] = tinyhead.Document{Source: "incoming/a.csv", Item: fmt.Sprint(i), SourceVersion: "v1", Text: text,
			Embeddings: map[string][]float32{def.ModelID(): v[0]}}
	}
	if err := store.PutDocuments(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	return store, def, &countingEmbedder{Embedder: inmem.NewEmbedder(4), seen: map[string]int{}}
}

// TestRunsTogether: runs at once embed every missing text once, the
// status says done, and a run when done does nothing.
func TestRunsTogether(t *testing.T) {
	store, def, emb := setup(t, 1001) // 1,000 distinct texts
	svc := &reembed.Service{Store: store, Embedders: tinyhead.Embedders{def, emb}, BatchSize: 16, Log: slog.New(slog.DiscardHandler)}
	model := emb.ModelID()
	var wg sync.WaitGroup
	runs := make([]*reembed.Status, 3)
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := svc.Run(t.Context(), model, time.Now().Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			runs[i] = st
		}()
	}
	wg.Wait()
	total := 0
	for _, st := range runs {
		total += st.Run.Embedded
	}
	if total != 1000 || len(emb.seen) != 1000 {
		t.Errorf("runs embedded %d texts, %d distinct; want 1000 once each", total, len(emb.seen))
	}
	for text, n := range emb.seen {
		if n != 1 {
			t.Errorf("%q embedded %d times", text, n)
		}
	}
	st, err := svc.Status(t.Context(), model)
	if err != nil || !st.Done || st.Embedded != 1000 || st.Texts != 1000 {
		t.Errorf("Status = %+v, %v; want 1000 of 1000", st, err)
	}
	again, err := svc.Run(t.Context(), model, time.Now().Add(time.Minute))
	if err != nil || again.Run.Embedded != 0 || again.Run.Stopped != "done" {
		t.Errorf("a run when done = %+v, %v", again.Run, err)
	}
}

// TestTimeBoxAndFailure: a run stops at its deadline and says so; a failed
// embedding leaves its batch claimed until the lease runs out, and the
// next run then finishes; an unconfigured model is refused.
func TestTimeBoxAndFailure(t *testing.T) {
	store, def, emb := setup(t, 101)
	svc := &reembed.Service{Store: store, Embedders: tinyhead.Embedders{def, emb}, BatchSize: 10, Lease: 50 * time.Millisecond}
	model := emb.ModelID()
	st, err := svc.Run(t.Context(), model, time.Now())
	if err != nil || st.Run.Embedded != 0 || st.Run.Stopped != "time box" || st.Missing != 100 {
		t.Fatalf("a run with no time = %+v, %v", st, err)
	}
	emb.fail = errors.New("model crashed")
	if _, err := svc.Run(t.Context(), model, time.Now().Add(time.Minute)); !errors.Is(err, emb.fail) {
		t.Fatalf("a failing model: %v", err)
	}
	emb.fail = nil
	st, err = svc.Run(t.Context(), model, time.Now().Add(time.Minute))
	if err != nil || st.Run.Stopped != "claimed by other runs" || st.Claimed != 10 || st.Run.Embedded != 90 {
		t.Fatalf("a run while the failed batch is claimed = %+v, %v; want the other 90", st.Run, err)
	}
	time.Sleep(60 * time.Millisecond)
	if st, err = svc.Run(t.Context(), model, time.Now().Add(time.Minute)); err != nil || !st.Done || st.Run.Embedded != 10 {
		t.Fatalf("a run after the lease = %+v, %v; want the last 10", st, err)
	}
	if _, err := svc.Run(t.Context(), "nope", time.Now().Add(time.Minute)); !errors.Is(err, tinyhead.ErrInvalid) {
		t.Errorf("an unconfigured model: %v, want ErrInvalid", err)
	}
}

// TestContinue: the nightly continuation finishes a model whose
// re-embedding was started, and leaves alone a model never started.
func TestContinue(t *testing.T) {
	store, def, emb := setup(t, 41)
	never := inmem.NewEmbedder(5)
	svc := &reembed.Service{Store: store, Embedders: tinyhead.Embedders{def, emb, never}, BatchSize: 8}
	first, err := store.ClaimMissing(t.Context(), emb.ModelID(), "earlier", "", 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	vec, _ := emb.Embed(t.Context(), []string{first[0].Text})
	if _, err := store.PutEmbeddings(t.Context(), emb.ModelID(), "earlier", []tinyhead.HashVector{{ContentHash: first[0].ContentHash, Vector: vec[0]}}); err != nil {
		t.Fatal(err)
	}
	sts, err := svc.Continue(t.Context(), time.Now().Add(time.Minute))
	if err != nil || len(sts) != 1 || sts[0].Model != emb.ModelID() || !sts[0].Done || sts[0].Run.Embedded != 39 {
		t.Fatalf("Continue = %+v, %v; want %s finished (39 texts)", sts, err, emb.ModelID())
	}
	if st, _ := svc.Status(t.Context(), never.ModelID()); st.Embedded != 0 {
		t.Errorf("a model never started was embedded: %+v", st)
	}
}
