package app

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/training"
)

func TestStatusOf(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("train task x: %w", err) }
	tests := []struct {
		err  error
		want int
	}{
		{wrap(training.ErrUnknownTask), http.StatusNotFound},
		{wrap(registry.ErrNoModel), http.StatusNotFound},
		{wrap(training.ErrNotEnoughData), http.StatusUnprocessableEntity},
		{wrap(training.ErrBadRequest), http.StatusBadRequest},
		{wrap(registry.ErrBusy), http.StatusConflict},
		{wrap(blobstore.ErrChanged), http.StatusConflict},
		{errors.New("database is down"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		if got := statusOf(tt.err); got != tt.want {
			t.Errorf("statusOf(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestValidTask(t *testing.T) {
	for _, task := range []string{"spam", "group", "topic-2", "ünïcode"} {
		if err := validTask(task); err != nil {
			t.Errorf("%q rejected: %v", task, err)
		}
	}
	for _, task := range []string{"", ".", "..", "a/b", `a\b`, string(make([]byte, 257))} {
		if err := validTask(task); !errors.Is(err, training.ErrBadRequest) {
			t.Errorf("%q accepted", task)
		}
	}
}
