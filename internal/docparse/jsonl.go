package docparse

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// jsonl parses JSON Lines: one object per line, blank lines skipped. Memory
// is bounded by one line of at most MaxLineBytes.
func (p *parser) jsonl(r io.Reader) error {
	return p.jsonLines(r, func(row int, line []byte) error {
		it, reason := p.jsonItem(line)
		if reason != "" {
			p.rejectRow(row, reason)
			return nil
		}
		it.Row = row
		return p.emitItem(it)
	})
}

// jsonLines calls fn with each non-blank line of a JSON Lines file and its
// 1-based number; a line over MaxLineBytes is rejected without fn.
func (p *parser) jsonLines(r io.Reader, fn func(row int, line []byte) error) error {
	br, err := openText(r)
	if err != nil {
		return err
	}
	if err := p.refuseBinary(br); err != nil {
		return err
	}
	var buf []byte
	for row := 1; ; row++ {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		line, tooLong, ok, err := readLine(br, buf, p.opt.MaxLineBytes)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		buf = line
		if tooLong {
			p.rejectRow(row, fmt.Sprintf("line longer than %d bytes", p.opt.MaxLineBytes))
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := fn(row, line); err != nil {
			return err
		}
	}
}

// readLine reads one line into buf, without its "\n" or "\r\n". A line
// longer than max is read through in chunks and dropped, so that memory
// stays bounded; tooLong reports it. ok is false at the end of input.
func readLine(br *bufio.Reader, buf []byte, max int) (line []byte, tooLong, ok bool, err error) {
	line = buf[:0]
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			ok = true
		}
		if !tooLong {
			if len(line)+len(chunk) > max+2 { // +2: room for "\r\n"
				tooLong, line = true, line[:0]
			} else {
				line = append(line, chunk...)
			}
		}
		switch err {
		case bufio.ErrBufferFull:
			continue
		case nil, io.EOF:
			line = bytes.TrimSuffix(line, []byte("\n"))
			line = bytes.TrimSuffix(line, []byte("\r"))
			if len(line) > max {
				tooLong, line = true, line[:0]
			}
			return line, tooLong, ok, nil
		default:
			return nil, false, false, err
		}
	}
}

// jsonItem decodes one non-blank line. A non-empty reason rejects the row.
func (p *parser) jsonItem(line []byte) (Item, string) {
	fields, reason := jsonObject(line)
	if reason != "" {
		return Item{}, reason
	}
	var it Item
	switch raw := fields["text"]; {
	case isNull(raw):
		return Item{}, "missing text"
	case raw[0] != '"':
		return Item{}, "text is not a string"
	default:
		if err := json.Unmarshal(raw, &it.Text); err != nil {
			return Item{}, "invalid JSON: " + err.Error()
		}
	}
	if reason := p.checkText(it.Text); reason != "" {
		return Item{}, reason
	}

	if it.ID, reason = jsonID("id", fields["id"]); reason != "" {
		return Item{}, reason
	}
	// A group is named like an id: a string, or a number as spelt.
	if it.Group, reason = jsonID("group", fields["group"]); reason != "" {
		return Item{}, reason
	}
	switch raw := fields["split"]; {
	case isNull(raw):
	case raw[0] == '"':
		var split string
		if err := json.Unmarshal(raw, &split); err != nil {
			return Item{}, "invalid JSON: " + err.Error()
		}
		if it.Test, reason = checkSplit(split); reason != "" {
			return Item{}, reason
		}
	default:
		return Item{}, fmt.Sprintf("split is not a string; it must be %q or absent", SplitTest)
	}
	if it.Labels, reason = jsonLabels(fields["labels"]); reason != "" {
		return Item{}, reason
	}
	return it, ""
}

// jsonObject decodes one non-blank line as a JSON object. A non-empty
// reason rejects the row.
func jsonObject(line []byte) (map[string]json.RawMessage, string) {
	// encoding/json would silently replace invalid bytes with U+FFFD.
	if !utf8.Valid(line) {
		return nil, "invalid UTF-8"
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)
		case bytes.TrimSpace(line)[0] != '{':
			return nil, "not a JSON object"
		}
		return nil, "invalid JSON: " + err.Error()
	}
	if fields == nil { // the line was "null"
		return nil, "not a JSON object"
	}
	return fields, ""
}

// jsonID reads an item id field (named name): a string, or a number kept
// as it is spelt (7 and 7.0 differ); absent or null is "".
func jsonID(name string, raw json.RawMessage) (string, string) {
	var id string
	switch {
	case isNull(raw):
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &id); err != nil {
			return "", "invalid JSON: " + err.Error()
		}
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		id = string(raw)
	default:
		return "", name + " is not a string or a number"
	}
	id = strings.TrimSpace(id)
	if len(id) > maxNameBytes {
		return "", fmt.Sprintf("%s longer than %d bytes", name, maxNameBytes)
	}
	return id, ""
}

// jsonLabels reads a labels object, {"<task>": "<label>"}; null or ""
// is an empty label. Absent or null labels are nil.
func jsonLabels(raw json.RawMessage) (map[string]string, string) {
	if isNull(raw) {
		return nil, ""
	}
	var labels map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &labels) != nil {
		return nil, "labels is not an object"
	}
	out := make(map[string]string, len(labels))
	for task, raw := range labels {
		var label string
		switch {
		case isNull(raw): // null: explicitly unlabeled, like ""
		case raw[0] == '"':
			if err := json.Unmarshal(raw, &label); err != nil {
				return nil, "invalid JSON: " + err.Error()
			}
		default:
			return nil, fmt.Sprintf("label of task %q is not a string", task)
		}
		task = strings.TrimSpace(task)
		if reason := checkLabel(task, label); reason != "" {
			return nil, reason
		}
		out[task] = strings.TrimSpace(label)
	}
	return out, ""
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// checkText returns why a text cannot be embedded, or "".
func (p *parser) checkText(text string) string {
	if strings.TrimSpace(text) == "" {
		return "empty text"
	}
	if len(text) > p.opt.MaxTextBytes {
		return fmt.Sprintf("text is %d bytes, over the limit of %d", len(text), p.opt.MaxTextBytes)
	}
	return ""
}

// checkLabel returns why a task/label pair cannot be stored, or "". A task
// name must be one that tinyhead.CheckTaskName allows (it becomes a models
// folder and a route segment); a row labelled for a task that could not
// be trained is rejected whole, like a row with any other bad label, so
// that what a file stores is all of a row or none of it.
func checkLabel(task, label string) string {
	if task == "" {
		return "empty task name in labels"
	}
	if err := tinyhead.CheckTaskName(task); err != nil {
		return err.Error()
	}
	switch {
	case len(strings.TrimSpace(label)) > maxNameBytes:
		return fmt.Sprintf("label of task %q longer than %d bytes", task, maxNameBytes)
	}
	return ""
}
