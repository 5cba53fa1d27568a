package tinyhead

import (
	"errors"
	"fmt"
)

// The kinds of error every package speaks. Where an error arises, a
// package marks it with its kind and says what it was doing
//
//	tinyhead.Errorf(tinyhead.ErrNotFound, "task %q has no labelled documents", task)
//
// (callers up the stack wrap it further with fmt.Errorf and %w), and code
// that must react tests the kind with errors.Is. The HTTP surface maps each
// kind to exactly one status (internal/app); an error of no kind is an
// internal failure (500).
var (
	// ErrNotFound: the thing asked for does not exist (a task, a model
	// version, a document, a blob). HTTP 404.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request or an input is malformed or out of range
	// (a bad hyperparameter, a bad task name, an unreadable model file).
	// Retrying the same request cannot help. HTTP 400.
	ErrInvalid = errors.New("invalid")
	// ErrUnprocessable: the request is well formed but the stored data
	// cannot satisfy it (a task with one class or too few rows). HTTP 422.
	ErrUnprocessable = errors.New("not enough data")
	// ErrConflict: another operation holds or changed what this one needs
	// (a training of the task is running; current.json moved since it was
	// read; a blob changed while it was read). Retry later. HTTP 409.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: a dependency failed in a way that may pass (storage
	// or database unreachable, throttled, resuming). Nothing was committed
	// that a retry would duplicate. HTTP 503.
	ErrUnavailable = errors.New("unavailable")
)

// Kinds lists every error kind, for tests that must cover each.
var Kinds = []error{ErrNotFound, ErrInvalid, ErrUnprocessable, ErrConflict, ErrUnavailable}

// KindOf returns the kind of err (one of Kinds), or nil if it has none.
func KindOf(err error) error {
	for _, k := range Kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// Errorf formats an error as fmt.Errorf does (%w wraps a cause) and marks
// it with kind: errors.Is(err, kind) holds, and the message is the
// formatted text alone.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

// WithKind marks err with kind, keeping its message; nil stays nil.
func WithKind(kind, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: kind, err: err}
}

type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }
