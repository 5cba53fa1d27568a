package config

import (
	"slices"
	"testing"
	"time"
)

// TestSQLPoolSettings: the pool settings' defaults, and what is refused.
func TestSQLPoolSettings(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		maxOpen  int
		maxIdle  time.Duration
		wantFail bool
	}{
		{name: "defaults", maxOpen: 4, maxIdle: 5 * time.Minute},
		{name: "set", env: map[string]string{SQLMaxOpenConns: "2", SQLConnMaxIdle: "90s"}, maxOpen: 2, maxIdle: 90 * time.Second},
		{name: "zero connections", env: map[string]string{SQLMaxOpenConns: "0"}, wantFail: true},
		{name: "negative connections", env: map[string]string{SQLMaxOpenConns: "-1"}, wantFail: true},
		{name: "idle without unit", env: map[string]string{SQLConnMaxIdle: "300"}, wantFail: true},
		{name: "zero idle", env: map[string]string{SQLConnMaxIdle: "0s"}, wantFail: true},
		{name: "negative idle", env: map[string]string{SQLConnMaxIdle: "-1m"}, wantFail: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(func(name string) string { return tc.env[name] }, "/app")
			if tc.wantFail {
				if err == nil {
					t.Fatalf("Load accepted %v", tc.env)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.SQLMaxOpenConns != tc.maxOpen || c.SQLConnMaxIdle != tc.maxIdle {
				t.Errorf("pool %d connections, idle %v; want %d, %v", c.SQLMaxOpenConns, c.SQLConnMaxIdle, tc.maxOpen, tc.maxIdle)
			}
		})
	}
}

// TestModelSettings: extra model directories resolve against the base,
// lists drop blanks, and the re-embedding lease has a default.
func TestModelSettings(t *testing.T) {
	env := map[string]string{ExtraModelDirs: "models/bge, /abs/minilm ,", IngestModels: " bge@1 ,", ReembedLease: "30s"}
	c, err := Load(func(name string) string { return env[name] }, "/app")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.ExtraModelDirs, []string{"/app/models/bge", "/abs/minilm"}) || !slices.Equal(c.IngestModels, []string{"bge@1"}) ||
		c.ReembedLease != 30*time.Second || c.ModelDir != "/app/model" {
		t.Errorf("Load = dirs %q, ingest %q, lease %v, default %q", c.ExtraModelDirs, c.IngestModels, c.ReembedLease, c.ModelDir)
	}
	c, err = Load(func(string) string { return "" }, "/app")
	if err != nil || c.ExtraModelDirs != nil || c.IngestModels != nil || c.ReembedLease != 2*time.Minute {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	if _, err := Load(func(name string) string { return map[string]string{ReembedLease: "soon"}[name] }, "/app"); err == nil {
		t.Error("Load accepted a lease that is no duration")
	}
}
