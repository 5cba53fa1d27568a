package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/tinyhead/tinyhead/internal/serving"
	"github.com/tinyhead/tinyhead/internal/training"
)

// sampleEmails are classified after the local run's training: one
// unsolicited offer and one mailing-list reply, neither in the data set.
var sampleEmails = []struct{ name, text string }{
	{"offer", "Make $5,000 a week from home!!! Dear friend, you have been specially selected for this exclusive offer. " +
		"No experience, no credit check. Click here now to claim your FREE starter kit, limited time only. " +
		"To be removed from our mailing list reply with REMOVE in the subject."},
	{"list reply", "Re: build fails on Red Hat 7.3. Thanks, I applied your patch to CVS this morning. The Makefile " +
		"still fails because the libxml headers are missing; could you check whether the configure test finds " +
		"them on your box? I'll try again with the next snapshot."},
}

// trainAndClassify uses the HTTP API the way a user does: POST
// /api/train/{task} for each task, then POST /api/classify/{task} with the
// sample e-mails, printing what comes back.
func trainAndClassify(ctx context.Context, w io.Writer, apiURL string, tasks []string) error {
	fmt.Fprintf(w, "\n== training over the HTTP API (%s) ==\n", apiURL)
	var trained []string
	for _, task := range tasks {
		task = strings.TrimSpace(task)
		if task == "" {
			continue
		}
		var out training.Outcome
		start := time.Now()
		if err := postJSON(ctx, apiURL+"/api/train/"+task, struct{}{}, &out); err != nil {
			return err
		}
		fmt.Fprintf(w, "task %s: version %s, %d classes, %d train / %d validation rows, trained in %.2f s (%.0f rows/s, %d parameters), request %.2f s\n",
			task, out.Version, len(out.Labels), out.Rows.Train, out.Rows.Validation, out.Timings.Train,
			float64(out.Rows.Train)/out.Timings.Train, out.Parameters, time.Since(start).Seconds())
		fmt.Fprintf(w, "  validation accuracy %.4f, macro-F1 %.4f; promoted %v (%s)\n",
			out.Metrics.Accuracy, out.Metrics.MacroF1, out.Promoted, out.Reason)
		for _, c := range out.Metrics.PerClass {
			fmt.Fprintf(w, "  %-12s precision %.3f recall %.3f F1 %.3f (%d rows)\n", c.Label, c.Precision, c.Recall, c.F1, c.Support)
		}
		fmt.Fprintf(w, "  report: models/%s\n", out.Files.Report)
		trained = append(trained, task)
	}
	texts := make([]string, len(sampleEmails))
	for i, e := range sampleEmails {
		texts[i] = e.text
	}
	fmt.Fprintf(w, "\n== classifying %d sample e-mails ==\n", len(texts))
	for _, task := range trained {
		var out serving.Classification
		if err := postJSON(ctx, apiURL+"/api/classify/"+task, map[string][]string{"texts": texts}, &out); err != nil {
			return err
		}
		for i, p := range out.Predictions {
			fmt.Fprintf(w, "%-6s %-11s → %-11s %s\n", task, sampleEmails[i].name, p.Label, topProbabilities(p.Probabilities, 3))
		}
	}
	return nil
}

// topProbabilities formats the n most likely classes.
func topProbabilities(p map[string]float64, n int) string {
	labels := make([]string, 0, len(p))
	for l := range p {
		labels = append(labels, l)
	}
	sort.Slice(labels, func(i, j int) bool { return p[labels[i]] > p[labels[j]] })
	parts := make([]string, 0, n)
	for _, l := range labels[:min(n, len(labels))] {
		parts = append(parts, fmt.Sprintf("%s %.3f", l, p[l]))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// postJSON POSTs body as JSON and decodes a 2xx answer into out; any other
// answer becomes an error carrying the API's message.
func postJSON(ctx context.Context, url string, body, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("POST %s: read answer: %w", url, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, strings.TrimSpace(string(raw)))
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("POST %s: decode answer: %w", url, err)
	}
	return nil
}
