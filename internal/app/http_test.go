package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// TestStatusOf: every error kind has its status, however deeply it is
// wrapped; an error of no kind is a 500.
func TestStatusOf(t *testing.T) {
	want := map[error]int{
		tinyhead.ErrNotFound:      http.StatusNotFound,
		tinyhead.ErrInvalid:       http.StatusBadRequest,
		tinyhead.ErrUnprocessable: http.StatusUnprocessableEntity,
		tinyhead.ErrConflict:      http.StatusConflict,
		tinyhead.ErrUnavailable:   http.StatusServiceUnavailable,
	}
	if len(want) != len(tinyhead.Kinds) {
		t.Fatalf("the test covers %d kinds; tinyhead has %d", len(want), len(tinyhead.Kinds))
	}
	for _, kind := range tinyhead.Kinds {
		status, ok := want[kind]
		if !ok {
			t.Fatalf("kind %v has no expected status in this test", kind)
		}
		tests := []error{
			kind,
			fmt.Errorf("train task x: %w", kind),
			fmt.Errorf("outer: %w", fmt.Errorf("middle: %w: %w", kind, errors.New("cause"))),
		}
		for _, err := range tests {
			if got := statusOf(err); got != status {
				t.Errorf("statusOf(%v) = %d, want %d", err, got, status)
			}
		}
	}
	for _, err := range []error{errors.New("database is down"), context.Canceled, nil} {
		if got := statusOf(err); got != http.StatusInternalServerError {
			t.Errorf("statusOf(%v) = %d, want 500", err, got)
		}
	}
}
