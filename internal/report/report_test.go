package report

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Set REPORT_SAMPLES to a directory to keep the rendered PNGs for a look,
// e.g. REPORT_SAMPLES=/tmp go test ./internal/report/ writes /tmp/report-*.png.
const samplesEnv = "REPORT_SAMPLES"

func TestPNG(t *testing.T) {
	tests := []struct {
		name   string
		r      Report
		height int
	}{
		{"2-classes", Report{
			Title:     "spam — version 20261128T141500Z",
			Subtitle:  "val accuracy 97.9% · macro-F1 97.1% · 4,837 train / 1,209 val rows · 1.8 s",
			Loss:      lossCurve(300, 1),
			ValLoss:   []float64{0.41, 0.22, 0.15, 0.12, 0.11, 0.105},
			ValSteps:  []int{50, 100, 150, 200, 250, 300},
			Labels:    []string{"ham", "spam"},
			Confusion: [][]int{{1021, 9}, {16, 163}},
		}, MinHeight},
		{"5-classes", Report{
			Title:     "support-intent — version 20261128T141500Z",
			Subtitle:  "val accuracy 88.4% · macro-F1 85.0% · 12,400 train / 3,100 val rows · 6.2 s",
			Loss:      lossCurve(600, 2),
			Labels:    []string{"billing", "bug report", "feature request", "account access", "other"},
			Confusion: confusion(5, []int{900, 700, 400, 150, 12}, 3),
		}, MinHeight},
		{"20-long-classes", Report{
			Title:     "ticket-routing — version 20261128T141500Z",
			Subtitle:  "val accuracy 71.3% · macro-F1 64.8% · 48,210 train / 12,052 val rows · 41.0 s",
			Loss:      lossCurve(1000, 4),
			ValLoss:   []float64{2.1, 1.4, 1.1, 1.0, 0.97},
			ValSteps:  []int{200, 400, 600, 800, 1000},
			Labels:    longLabels(20),
			Confusion: confusion(20, supports(20), 5),
		}, 715}, // grown so that two-line annotations stay legible
		{"1000-steps", Report{
			Title:     "sentiment — version 20261128T141500Z",
			Subtitle:  "val accuracy 93.0%",
			Loss:      lossCurve(1000, 6),
			Labels:    []string{"negative", "neutral", "positive"},
			Confusion: [][]int{{480, 31, 9}, {40, 301, 52}, {6, 28, 611}},
		}, MinHeight},
		{"empty-loss", Report{
			Title:     "tiny — version 20261128T141500Z",
			Labels:    []string{"no", "yes"},
			Confusion: [][]int{{3, 1}, {0, 4}},
		}, MinHeight},
		{"nan-loss", Report{
			Loss:      []float64{math.NaN(), math.Inf(1)},
			Labels:    []string{"a", "b"},
			Confusion: [][]int{{1, 0}, {0, 1}},
		}, MinHeight},
		{"one-step-empty-row", Report{
			Title:     strings.Repeat("a very long title that will not fit ", 12),
			Loss:      []float64{0.69},
			Labels:    []string{"a", "b", "c"},
			Confusion: [][]int{{5, 0, 0}, {0, 0, 0}, {1, 0, 7}},
		}, MinHeight},
		{"12-classes-big-counts", Report{
			Title:     "language — version 20261128T141500Z",
			Loss:      lossCurve(5000, 9),
			Labels:    []string{"de", "en", "es", "fr", "it", "nl", "pl", "pt", "ru", "sv", "tr", "zh"},
			Confusion: confusion(12, []int{90000, 120000, 40000, 30000, 9000, 5000, 3000, 2000, 900, 90, 9, 0}, 10),
		}, MinHeight},
		{"no-classes", Report{Loss: lossCurve(50, 7)}, MinHeight},
	}
	dir := os.Getenv(samplesEnv)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := PNG(tt.r)
			if err != nil {
				t.Fatalf("PNG: %v", err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got := img.Bounds().Size(); got.X != Width || got.Y != tt.height {
				t.Errorf("size = %v, want %dx%d", got, Width, tt.height)
			}
			if dir != "" {
				if err := os.WriteFile(filepath.Join(dir, "report-"+tt.name+".png"), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestPNGDeterministic(t *testing.T) {
	r := Report{
		Title:     "spam",
		Loss:      lossCurve(200, 8),
		Labels:    []string{"ham", "spam"},
		Confusion: [][]int{{10, 2}, {1, 7}},
	}
	a, err := PNG(r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := PNG(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two renderings of the same report differ")
	}
}

func TestPNGInvalid(t *testing.T) {
	tests := []struct {
		name string
		r    Report
		want string // substring of the error
	}{
		{"fewer rows than labels", Report{
			Labels:    []string{"a", "b", "c"},
			Confusion: [][]int{{1, 0, 0}, {0, 1, 0}},
		}, "2 rows"},
		{"more rows than labels", Report{
			Labels:    []string{"a"},
			Confusion: [][]int{{1, 0}, {0, 1}},
		}, "2 rows"},
		{"ragged row", Report{
			Labels:    []string{"a", "b"},
			Confusion: [][]int{{1, 0}, {0}},
		}, `row 1 ("b") has 1 columns`},
		{"labels without matrix", Report{
			Labels: []string{"a", "b"},
		}, "0 rows"},
		{"negative count", Report{
			Labels:    []string{"a", "b"},
			Confusion: [][]int{{1, -1}, {0, 1}},
		}, "negative"},
		{"val steps mismatch", Report{
			ValLoss:  []float64{0.5, 0.4},
			ValSteps: []int{10},
		}, "validation steps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PNG(tt.r)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestPercent(t *testing.T) {
	tests := []struct {
		share    float64
		decimals int
		want     string
	}{
		{0.979, 1, "97.9%"},
		{0.9996, 1, ">99.9%"},
		{0.0004, 1, "<0.1%"},
		{1, 0, "100%"},
		{0, 0, "0%"},
		{0.996, 0, ">99%"},
		{math.NaN(), 0, "–"},
	}
	for _, tt := range tests {
		if got := percent(tt.share, tt.decimals); got != tt.want {
			t.Errorf("percent(%v, %d) = %q, want %q", tt.share, tt.decimals, got, tt.want)
		}
	}
}

func TestGroupDigits(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 4837: "4,837", 1234567: "1,234,567"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct{ in, want string }{
		{"billing", "billing"},
		{"exactly-18-runes-x", "exactly-18-runes-x"},
		{"nineteen-runes-long", "nineteen-runes-lo…"},
		{"überweisungsrückfrage-konto", "überweisungsrückf…"},
	}
	for _, tt := range tests {
		if got := truncate(tt.in, maxLabelRunes); got != tt.want {
			t.Errorf("truncate(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// lossCurve is a noisy exponential decay, like a real run.
func lossCurve(steps int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]float64, steps)
	for i := range out {
		base := 0.08 + 2.2*math.Exp(-float64(i)/float64(steps)*6)
		out[i] = base * (1 + 0.35*rng.NormFloat64()*0.5)
	}
	return out
}

// confusion spreads each class's support mostly on the diagonal.
func confusion(n int, support []int, seed uint64) [][]int {
	rng := rand.New(rand.NewPCG(seed, 2))
	m := make([][]int, n)
	for i := range m {
		m[i] = make([]int, n)
		for range support[i] {
			j := i
			if rng.Float64() < 0.3 {
				// Confusions cluster on a few neighbours, as in real data.
				j = (i + 1 + rng.IntN(min(3, n))) % n
			}
			m[i][j]++
		}
	}
	return m
}

func supports(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 2000 / (i + 1)
	}
	return s
}

func longLabels(n int) []string {
	words := []string{"billing", "refund", "shipping", "password", "invoice", "warranty", "delivery", "account"}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%s-request-%02d", words[i%len(words)], words[(i*3+1)%len(words)], i)
	}
	out[3] = "x" // short names mixed in
	return out
}
