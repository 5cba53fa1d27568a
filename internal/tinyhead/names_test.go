package tinyhead

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckTaskName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"spam", true},
		{"topic-2026_v1.x", true},
		{"Ünïcode tâche", true},
		{strings.Repeat("a", MaxTaskName), true},
		{"", false},
		{strings.Repeat("a", MaxTaskName+1), false},
		{".", false},
		{"..", false},
		{"../escape", false},
		{"victim/..", false},
		{"x/../victim", false},
		{"victim/sub", false},
		{`back\slash`, false},
		{"trailing ", false},
		{" leading", false},
		{"tab\there", false},
		{"nul\x00", false},
		{"bad\xffutf8", false},
	}
	for _, tt := range tests {
		err := CheckTaskName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("CheckTaskName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckTaskName(%q) error %v is not ErrInvalid", tt.name, err)
		}
	}
}
