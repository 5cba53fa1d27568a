// Package mlp is tinyhead's classifier head and its trainer: a two-layer
// perceptron over stored sentence embeddings, trained with AdamW + AMSGrad
// on a CPU in seconds, and exported as a standard ONNX graph.
//
// The recipe is the reference one (Azure/elenchus, PyTorch; docs/design.md,
// "The reference training recipe"): Linear(dim→hidden), Linear(hidden→classes), softmax
// cross-entropy, AdamW with amsgrad, lr 1e-3, weight decay 1e-5, batch 256,
// a linear learning-rate schedule. tinyhead's default puts a ReLU between
// the layers; Activation "none" reproduces the reference.
package mlp

import (
	"fmt"
	"math"
	"slices"
)

// Activation is the function between the two layers.
type Activation string

const (
	// ReLU is the default.
	ReLU Activation = "relu"
	// None makes the head a product of two linear maps, as in the reference.
	None Activation = "none"
)

// Config holds the training hyperparameters. The zero Config is the default
// recipe: WithDefaults fills every zero field.
type Config struct {
	// Hidden is the hidden layer's width; 0 means max(classes/2, MinHidden).
	Hidden int `json:"hidden"`
	// MinHidden floors the default width (default 16; negative: no floor,
	// the reference's classes/2). classes/2 alone gives a binary task a
	// single hidden unit: one dead ReLU kills the model, and without an
	// activation a rank-h bottleneck cannot separate more than h+1 classes.
	// The floor is a measured trade between time and accuracy
	// (BenchmarkHidden; BENCHMARKS.md, "Trainer"): on 512-d synthetic rows
	// of 10 classes, width 2 reaches 30% validation accuracy, 8 92%, 16
	// 98% and 32 99%. On SpamAssassin spam/ham (standardised inputs, seeds
	// 0–2) width 8 gives 97.0–97.6% validation accuracy and 16 gives
	// 97.5–98.1%; the five groups 74.6–75.3% and 76.2–77.3%.
	MinHidden int `json:"min_hidden,omitempty"`
	// Activation is "relu" (default) or "none".
	Activation Activation `json:"activation"`
	// LearningRate is the initial rate (1e-3); it decays linearly to 0
	// over Steps.
	LearningRate float64 `json:"learning_rate"`
	// WeightDecay is AdamW's decoupled decay (1e-5); negative disables it.
	WeightDecay float64 `json:"weight_decay"`
	// Beta1, Beta2 and Epsilon are Adam's (0.9, 0.999, 1e-8, PyTorch's);
	// as everywhere here, zero means the default.
	Beta1   float64 `json:"beta1"`
	Beta2   float64 `json:"beta2"`
	Epsilon float64 `json:"epsilon"`
	// NoAMSGrad turns AMSGrad off (the recipe uses it).
	NoAMSGrad bool `json:"no_amsgrad,omitempty"`
	// NoStandardize trains on the embeddings as they are. By default the
	// caller fits a Scaler on the training rows, trains on standardised
	// batches and folds the Scaler into the model (see Scaler); Train
	// itself trains on whatever rows its Batches give.
	NoStandardize bool `json:"no_standardize,omitempty"`
	// BatchSize is the mini-batch size (256).
	BatchSize int `json:"batch_size"`
	// Steps is the number of optimiser steps (1000).
	Steps int `json:"steps"`
	// Features are the inputs the head reads: "embedding" (the MLP over
	// the sentence embedding; mlp's default), "sketch" (a linear layer
	// over the text's sketch) or "both" (their logits added, trained
	// jointly). training.Service's default is DefaultFeatures.
	Features Features `json:"features,omitempty"`
	// SketchBuckets is the sketch layer's number of rows, a power of two
	// (DefaultSketchBuckets); sketch indices are folded into it.
	SketchBuckets int `json:"sketch_buckets,omitempty"`
	// SketchLearningRate is the sketch layer's initial rate
	// (DefaultSketchLearningRate), on the same linear schedule. The layer
	// is trained by plain SGD on the mean loss, without weight decay (see
	// sketchLayer for why), so its rate is far larger than Adam's.
	SketchLearningRate float64 `json:"sketch_learning_rate,omitempty"`
	// SketchWeighting scales the sketch's entries in training: "idf"
	// (DefaultSketchWeighting: each bucket's inverse document frequency
	// over the training rows, folded into the model's weights, so that
	// Classify and the ONNX graph read the stored sketches unchanged: see
	// sketchIDF) or "none" (the stored values).
	SketchWeighting string `json:"sketch_weighting,omitempty"`
	// SketchExactShare is, for a binary task whose head reads the sketch,
	// the share of the final logits that comes from a second sketch layer
	// fitted by an exact solver after training (L2 logistic regression over
	// the same weighted entries, with a bias; see exactSketch): the head
	// answers (1 − share) × what SGD trained + share × the exact fit.
	// Default DefaultSketchExactShare; negative: none (SGD's head alone).
	// Tasks of more than two classes have none.
	SketchExactShare float64 `json:"sketch_exact_share,omitempty"`
	// SketchExactC is the exact fit's inverse regularisation (liblinear's
	// C: ½‖w‖² + C Σ loss, each row's C times its class weight); default
	// DefaultSketchExactC.
	SketchExactC float64 `json:"sketch_exact_c,omitempty"`
	// ClassWeight weighs each row's loss by its class: "balanced"
	// (scikit-learn's n/(k·n_c), see BalancedWeights) or "none". The
	// default ("") is balanced when the rarest class is under
	// WeightedShare of the rows (see NeedsWeights), none otherwise; the
	// caller resolves it into ClassWeights.
	ClassWeight string `json:"class_weight,omitempty"`
	// ClassWeights are the weights of the classes, in label order, as the
	// caller computed them from the training rows (nil: every row weighs
	// the same). The loss is PyTorch's weighted cross-entropy: Σ w_y·loss
	// / Σ w_y over the batch.
	ClassWeights []float64 `json:"class_weights,omitempty"`
	// Seed makes training deterministic: the same seed, data and Config
	// give bit-identical weights on any core count, with or without AVX2
	// (math.Exp and math.Log may differ in the last bit between CPU
	// architectures, and so may the weights).
	Seed uint64 `json:"seed"`
}

// Class weightings.
const (
	ClassWeightBalanced = "balanced"
	ClassWeightNone     = "none"
)

// Defaults of the recipe.
const (
	DefaultMinHidden    = 16
	DefaultLearningRate = 1e-3
	DefaultWeightDecay  = 1e-5
	DefaultBeta1        = 0.9
	DefaultBeta2        = 0.999
	DefaultEpsilon      = 1e-8
	DefaultBatchSize    = 256
	DefaultSteps        = 1000
	// DefaultFeatures is the features a task's training uses unless told;
	// the sketch layer's defaults were chosen with it (BENCHMARKS.md,
	// "Lexical sketch features", has the measurements: IDF and rate 600
	// against no weighting and rates 50–1000).
	DefaultFeatures           = FeatureBoth
	DefaultSketchBuckets      = 1 << 16
	DefaultSketchLearningRate = 600
	DefaultSketchWeighting    = SketchWeightingIDF
	// The exact sketch fit's share and C: BENCHMARKS.md, "Lexical sketch
	// features", has the measurements (shares 0.3, 0.5 and 0.7).
	DefaultSketchExactShare = 0.7
	DefaultSketchExactC     = 1000
)

// Upper bounds Validate enforces, so that a request cannot ask for more
// memory or time than any sensible head needs.
//
// A training holds its task's lock for its whole run, so its work is
// bounded, not just each factor. The trainer's cost is about steps ×
// batch_size × hidden multiply-adds per input dimension (forward and
// backward through the first layer); measured on 2 cores (BENCHMARKS.md,
// "Trainer") it does about 6 million of those units a second on 512-d
// inputs. MaxWork, 2^29 (131 × the default recipe's 1000 × 256 × 16), is
// then about 1.5 minutes on 2 cores and 3 on one vCPU: within the 230
// seconds Azure's front end waits for an HTTP answer, so a request that
// passes can finish and answer. MaxRows, 2^24 rows read (65 × the default),
// bounds the rows a training reads when every batch comes from SQL
// (from_sql) whatever its width, and MaxBatchHidden, 2^22, the activations
// one step holds (16 MiB per float32 matrix of batch_size × hidden).
const (
	MaxHidden        = 4096
	MaxBatchSize     = 1 << 16
	MaxSteps         = 1_000_000
	MaxWork          = 1 << 29 // steps × batch_size × hidden
	MaxRows          = 1 << 24 // steps × batch_size
	MaxBatchHidden   = 1 << 22 // batch_size × hidden
	MaxClassWeight   = 1 << 20 // a class of 1 row in 2^20 rows
	MaxSketchBuckets = 1 << 22
	MaxSketchParams  = 1 << 23 // sketch_buckets × classes: 32 MiB per float32 weight array
	MaxSketchExactC  = 1e9
)

// WithDefaults returns c with every zero field set to the recipe's value
// for a task of the given number of classes.
func (c Config) WithDefaults(classes int) Config {
	if c.MinHidden == 0 {
		c.MinHidden = DefaultMinHidden
	}
	if c.Hidden == 0 {
		c.Hidden = DefaultHidden(classes, c.MinHidden)
	}
	if c.Activation == "" {
		c.Activation = ReLU
	}
	setFloat(&c.LearningRate, DefaultLearningRate)
	setFloat(&c.WeightDecay, DefaultWeightDecay)
	setFloat(&c.Beta1, DefaultBeta1)
	setFloat(&c.Beta2, DefaultBeta2)
	setFloat(&c.Epsilon, DefaultEpsilon)
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Steps == 0 {
		c.Steps = DefaultSteps
	}
	if c.Features == "" {
		c.Features = FeatureEmbedding
	}
	if c.Features.uses(FeatureSketch) {
		if c.SketchBuckets == 0 {
			c.SketchBuckets = DefaultSketchBuckets
		}
		setFloat(&c.SketchLearningRate, DefaultSketchLearningRate)
		if c.SketchWeighting == "" {
			c.SketchWeighting = DefaultSketchWeighting
		}
		if classes == 2 {
			setFloat(&c.SketchExactShare, DefaultSketchExactShare)
			setFloat(&c.SketchExactC, DefaultSketchExactC)
		}
	}
	return c
}

func setFloat(p *float64, def float64) {
	if *p == 0 {
		*p = def
	}
}

// DefaultHidden is the default width: max(classes/2, minHidden), at least
// 1. A negative minHidden means no floor.
func DefaultHidden(classes, minHidden int) int {
	return max(classes/2, minHidden, 1)
}

// Validate reports the first invalid field of a Config that WithDefaults
// has filled.
func (c Config) Validate() error {
	if err := c.validateSketch(); err != nil {
		return err
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.Hidden < 1 || c.Hidden > MaxHidden:
		return fmt.Errorf("hidden must be in [1, %d], not %d", MaxHidden, c.Hidden)
	case c.Activation != ReLU && c.Activation != None:
		return fmt.Errorf("activation must be %q or %q, not %q", ReLU, None, c.Activation)
	case !finite(c.LearningRate) || c.LearningRate <= 0:
		return fmt.Errorf("learning_rate must be positive, not %g", c.LearningRate)
	case !finite(c.WeightDecay):
		return fmt.Errorf("weight_decay must be finite, not %g", c.WeightDecay)
	case c.LearningRate*max(c.WeightDecay, 0) >= 1:
		return fmt.Errorf("learning_rate × weight_decay must be below 1, not %g × %g", c.LearningRate, c.WeightDecay)
	case !(c.Beta1 >= 0 && c.Beta1 < 1):
		return fmt.Errorf("beta1 must be in [0, 1), not %g", c.Beta1)
	case !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("beta2 must be in [0, 1), not %g", c.Beta2)
	case !finite(c.Epsilon) || c.Epsilon <= 0:
		return fmt.Errorf("epsilon must be positive, not %g", c.Epsilon)
	case c.BatchSize < 1 || c.BatchSize > MaxBatchSize:
		return fmt.Errorf("batch_size must be in [1, %d], not %d", MaxBatchSize, c.BatchSize)
	case c.Steps < 1 || c.Steps > MaxSteps:
		return fmt.Errorf("steps must be in [1, %d], not %d", MaxSteps, c.Steps)
	case c.ClassWeight != "" && c.ClassWeight != ClassWeightBalanced && c.ClassWeight != ClassWeightNone:
		return fmt.Errorf("class_weight must be %q or %q, not %q", ClassWeightBalanced, ClassWeightNone, c.ClassWeight)
	case slices.ContainsFunc(c.ClassWeights, func(w float64) bool { return !finite(w) || w <= 0 || w > MaxClassWeight }):
		return fmt.Errorf("class_weights must be in (0, %g], not %v", float64(MaxClassWeight), c.ClassWeights)
	case c.BatchSize*c.Hidden > MaxBatchHidden:
		return fmt.Errorf("batch_size × hidden must be at most %d, not %d × %d", MaxBatchHidden, c.BatchSize, c.Hidden)
	case c.Steps*c.BatchSize > MaxRows:
		return fmt.Errorf("steps × batch_size must be at most %d, not %d × %d", MaxRows, c.Steps, c.BatchSize)
	case c.Steps*c.BatchSize*c.Hidden > MaxWork:
		return fmt.Errorf("steps × batch_size × hidden must be at most %d (a few minutes of training), not %d × %d × %d",
			MaxWork, c.Steps, c.BatchSize, c.Hidden)
	}
	return nil
}

// DivergedError is a training whose loss stopped being finite: with finite
// inputs, the hyperparameters' fault (a learning rate far too large).
type DivergedError struct {
	Step         int
	Loss         float64
	LearningRate float64
}

func (e *DivergedError) Error() string {
	return fmt.Sprintf("training diverged: the loss is %g at step %d; learning_rate %g is too large for this task (default %g)",
		e.Loss, e.Step, e.LearningRate, DefaultLearningRate)
}

// validateSketch checks the features and the sketch layer's fields.
func (c Config) validateSketch() error {
	switch {
	case !c.Features.valid():
		return fmt.Errorf("features must be %q, %q or %q, not %q", FeatureEmbedding, FeatureSketch, FeatureBoth, c.Features)
	case !c.Features.uses(FeatureSketch):
		return nil
	case c.SketchBuckets < 1 || c.SketchBuckets > MaxSketchBuckets || c.SketchBuckets&(c.SketchBuckets-1) != 0:
		return fmt.Errorf("sketch_buckets must be a power of two in [1, %d], not %d", MaxSketchBuckets, c.SketchBuckets)
	case math.IsNaN(c.SketchLearningRate) || math.IsInf(c.SketchLearningRate, 0) || c.SketchLearningRate <= 0:
		return fmt.Errorf("sketch_learning_rate must be positive, not %g", c.SketchLearningRate)
	case c.SketchWeighting != SketchWeightingIDF && c.SketchWeighting != SketchWeightingNone:
		return fmt.Errorf("sketch_weighting must be %q or %q, not %q", SketchWeightingIDF, SketchWeightingNone, c.SketchWeighting)
	case math.IsNaN(c.SketchExactShare) || c.SketchExactShare > 1:
		return fmt.Errorf("sketch_exact_share must be at most 1 (negative: none), not %g", c.SketchExactShare)
	case c.SketchExactShare > 0 && !(c.SketchExactC > 0 && c.SketchExactC <= MaxSketchExactC):
		return fmt.Errorf("sketch_exact_c must be in (0, %g], not %g", float64(MaxSketchExactC), c.SketchExactC)
	}
	return nil
}

// ValidateSize reports whether the sketch layer of a task of the given
// number of classes stays within MaxSketchParams.
func (c Config) ValidateSize(classes int) error {
	if c.Features.uses(FeatureSketch) && c.SketchBuckets*classes > MaxSketchParams {
		return fmt.Errorf("sketch_buckets × classes must be at most %d, not %d × %d", MaxSketchParams, c.SketchBuckets, classes)
	}
	return nil
}
