package mlp

import (
	"math"
	"reflect"
	"testing"
)

func TestParamCount(t *testing.T) {
	tests := []struct {
		dim, hidden, classes int
		want                 int
	}{
		{768, 7, 14, 5495}, // the reference: BERT pooler, 14 DBpedia classes
		{512, 8, 2, 512*8 + 8 + 2*8 + 2},
		{1, 1, 1, 4},
	}
	for _, tt := range tests {
		m := &Model{Dim: tt.dim, Hidden: tt.hidden, Classes: tt.classes}
		if got := m.ParamCount(); got != tt.want {
			t.Errorf("ParamCount(%d, %d, %d) = %d, want %d", tt.dim, tt.hidden, tt.classes, got, tt.want)
		}
	}
}

func TestWithDefaultsHidden(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		classes int
		want    int
	}{
		{"binary gets the floor", Config{}, 2, 16},
		{"reference 14 classes under the floor", Config{}, 14, 16},
		{"32 classes", Config{}, 32, 16},
		{"34 classes: classes/2", Config{}, 34, 17},
		{"100 classes", Config{}, 100, 50},
		{"no floor: the reference's classes/2", Config{MinHidden: -1}, 14, 7},
		{"no floor, binary: still one unit", Config{MinHidden: -1}, 2, 1},
		{"custom floor", Config{MinHidden: 4}, 2, 4},
		{"explicit width wins", Config{Hidden: 3}, 100, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.WithDefaults(tt.classes).Hidden; got != tt.want {
				t.Errorf("hidden = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	want := Config{
		Hidden: 16, MinHidden: 16, Activation: ReLU, LearningRate: 1e-3, WeightDecay: 1e-5,
		Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-8, BatchSize: 256, Steps: 1000, Features: FeatureEmbedding,
	}
	got := Config{}.WithDefaults(10)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Config{}.WithDefaults(10) = %+v\nwant %+v", got, want)
	}
	if again := got.WithDefaults(10); !reflect.DeepEqual(again, got) {
		t.Errorf("WithDefaults is not idempotent: %+v", again)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	custom := Config{Hidden: 5, Activation: None, LearningRate: 0.01, WeightDecay: -1, NoAMSGrad: true, BatchSize: 32, Steps: 10, Seed: 7}
	if got := custom.WithDefaults(10); got.Hidden != 5 || got.Activation != None || got.LearningRate != 0.01 ||
		got.WeightDecay != -1 || !got.NoAMSGrad || got.BatchSize != 32 || got.Steps != 10 || got.Seed != 7 {
		t.Errorf("WithDefaults changed set fields: %+v", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"hidden 0", func(c *Config) { c.Hidden = 0 }},
		{"hidden too large", func(c *Config) { c.Hidden = MaxHidden + 1 }},
		{"activation", func(c *Config) { c.Activation = "tanh" }},
		{"negative learning rate", func(c *Config) { c.LearningRate = -1 }},
		{"NaN learning rate", func(c *Config) { c.LearningRate = math.NaN() }},
		{"infinite weight decay", func(c *Config) { c.WeightDecay = math.Inf(1) }},
		{"decay × rate ≥ 1", func(c *Config) { c.LearningRate, c.WeightDecay = 1, 1 }},
		{"beta1 = 1", func(c *Config) { c.Beta1 = 1 }},
		{"beta2 < 0", func(c *Config) { c.Beta2 = -0.5 }},
		{"epsilon 0", func(c *Config) { c.Epsilon = 0 }},
		{"batch 0", func(c *Config) { c.BatchSize = 0 }},
		{"batch too large", func(c *Config) { c.BatchSize = MaxBatchSize + 1 }},
		{"steps negative", func(c *Config) { c.Steps = -1 }},
		{"steps too many", func(c *Config) { c.Steps = MaxSteps + 1 }},
		{"steps × batch × hidden", func(c *Config) { c.Steps, c.BatchSize, c.Hidden = 100_000, 16, 4096 }},
		{"steps × batch", func(c *Config) { c.Steps, c.BatchSize, c.Hidden = 300_000, 64, 1 }},
		{"batch × hidden", func(c *Config) { c.Steps, c.BatchSize, c.Hidden = 1, MaxBatchSize, MaxHidden }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{}.WithDefaults(4)
			tt.mutate(&c)
			if err := c.Validate(); err == nil {
				t.Errorf("Validate(%+v) = nil, want an error", c)
			}
		})
	}
}
