package mlp

import "fmt"

// Metrics scores a model on labelled rows.
type Metrics struct {
	Accuracy float64 `json:"accuracy"`
	// MacroF1 is the unweighted mean F1 over the classes that occur in the
	// labels or the predictions (scikit-learn's average="macro").
	MacroF1  float64        `json:"macro_f1"`
	PerClass []ClassMetrics `json:"per_class"`
	// Confusion counts rows by [true class][predicted class].
	Confusion [][]int `json:"confusion"`
	Rows      int     `json:"rows"`
	// LogLoss and Brier say how well the probabilities are calibrated
	// (see Calibration); 0 when only the decisions were scored.
	LogLoss float64 `json:"log_loss,omitempty"`
	Brier   float64 `json:"brier,omitempty"`
}

// ClassMetrics is one class's precision, recall and F1; a ratio with a zero
// denominator is 0 (scikit-learn's zero_division=0), never NaN, which JSON
// could not carry.
type ClassMetrics struct {
	Label     string  `json:"label"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`
}

// Evaluate runs m on the len(y) rows of x (and of sk, if m reads
// sketches) and scores its predictions (the most probable class) against
// y, whose values must be class indices.
func Evaluate(m *Model, x []float32, sk Sparse, y []int32) Metrics {
	pred := make([]int32, len(y))
	const chunk = 1024 // bounds the probability buffer
	probs := make([]float32, min(chunk, len(y))*m.Classes)
	for i := 0; i < len(y); i += chunk {
		n := min(chunk, len(y)-i)
		m.Predict(x[i*m.Dim:(i+n)*m.Dim], sk.Slice(i, i+n), n, probs)
		for r := range n {
			pred[i+r] = int32(Argmax(probs[r*m.Classes : (r+1)*m.Classes]))
		}
	}
	return Assess(y, pred, m.Classes, m.Labels)
}

// Score is Assess's accuracy and macro-F1.
func Score(y, pred []int32, classes int) (accuracy, macroF1 float64) {
	mt := Assess(y, pred, classes, nil)
	return mt.Accuracy, mt.MacroF1
}

// Assess compares predicted with true class indices. A prediction outside
// [0, classes) (such as −1, "no class") counts as an error and goes into
// no confusion column. labels names the classes, or is nil.
func Assess(y, pred []int32, classes int, labels []string) Metrics {
	if len(pred) != len(y) {
		panic(fmt.Sprintf("mlp: %d predictions for %d labels", len(pred), len(y)))
	}
	mt := Metrics{Rows: len(y), Confusion: make([][]int, classes), PerClass: make([]ClassMetrics, classes)}
	for i := range mt.Confusion {
		mt.Confusion[i] = make([]int, classes)
	}
	predicted := make([]int, classes)
	correct := 0
	for i, t := range y {
		if t < 0 || int(t) >= classes {
			panic(fmt.Sprintf("mlp: label %d of row %d is not one of %d classes", t, i, classes))
		}
		mt.PerClass[t].Support++
		p := pred[i]
		if p < 0 || int(p) >= classes {
			continue
		}
		mt.Confusion[t][p]++
		predicted[p]++
		if p == t {
			correct++
		}
	}
	if len(y) > 0 {
		mt.Accuracy = float64(correct) / float64(len(y))
	}
	present := 0
	for k := range mt.PerClass {
		c := &mt.PerClass[k]
		if labels != nil {
			c.Label = labels[k]
		} else {
			c.Label = fmt.Sprint(k)
		}
		tp := mt.Confusion[k][k]
		c.Precision = ratio(tp, predicted[k])
		c.Recall = ratio(tp, c.Support)
		if c.Precision+c.Recall > 0 {
			c.F1 = 2 * c.Precision * c.Recall / (c.Precision + c.Recall)
		}
		if c.Support > 0 || predicted[k] > 0 {
			present++
			mt.MacroF1 += c.F1
		}
	}
	if present > 0 {
		mt.MacroF1 /= float64(present)
	}
	return mt
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
