package docparse

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// errRecordTooLong is what csvFeed answers once a record outgrows
// MaxLineBytes.
const errRecordTooLong = constError("CSV record too long")

// csvColumns is the meaning of a header row.
type csvColumns struct {
	n     int
	at    map[string]int // column of each named column the format knows (lower case)
	tasks []int          // column of each task
	names []string       // task names, trimmed
}

// col returns the column of a known column name, or -1.
func (c csvColumns) col(name string) int {
	if i, ok := c.at[name]; ok {
		return i
	}
	return -1
}

// csv parses CSV (or TSV with comma '\t') with encoding/csv, strict about
// quotes. encoding/csv reads a whole record into memory, so csvFeed caps
// each record at MaxLineBytes and, on overflow, skips to the next record
// itself and restarts the csv.Reader there.
func (p *parser) csv(r io.Reader, comma rune) error {
	var cols csvColumns
	return p.csvRecords(r, comma, func(header []string) error {
		var err error
		cols, err = p.csvHeader(header, "text", "id", "group", "split")
		if err == nil && cols.col("text") < 0 {
			err = p.fileError("no \"text\" column; columns found: %s", quoted(header))
		}
		return err
	}, func(row, line int, rec []string) error {
		it, reason := p.csvItem(cols, rec)
		if reason != "" {
			p.rejectRow(row, fmt.Sprintf("%s (CSV line %d)", reason, line))
			return nil
		}
		it.Row = row
		return p.emitItem(it)
	})
}

// csvRecords reads a CSV file: header gets the header row (an error from
// it fails the file), then record each well-formed record with its data
// row number and the CSV line it starts on. Malformed and over-long
// records are rejected here.
func (p *parser) csvRecords(r io.Reader, comma rune, header func([]string) error, record func(row, line int, rec []string) error) error {
	br, err := openText(r)
	if err != nil {
		return err
	}
	if err := p.refuseBinary(br); err != nil {
		return err
	}
	feed := &csvFeed{src: br, limit: int64(p.opt.MaxLineBytes)}
	cr := newCSVReader(feed, comma)
	head, err := cr.Read()
	switch {
	case err == io.EOF:
		return nil // empty file
	case feed.over:
		return p.fileError("header row longer than %d bytes", p.opt.MaxLineBytes)
	case isParseError(err):
		return p.fileError("unreadable header row: %v", err)
	case err != nil:
		return err
	}
	if err := header(head); err != nil {
		return err
	}
	feed.mark(cr.InputOffset())

	for row := 1; ; row++ {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		rec, err := cr.Read()
		var pe *csv.ParseError
		switch {
		case err == io.EOF:
			return nil
		case feed.over:
			// Checked before ParseError: csv may report a quote error on
			// the truncated record and hide the overflow.
			reason := fmt.Sprintf("record longer than %d bytes (CSV line %d)", p.opt.MaxLineBytes, feed.recLine)
			if !feed.synced {
				p.rejectRow(row, reason+"; the rest of the file was not read")
				return nil
			}
			p.rejectRow(row, reason)
			if err := feed.skipRecord(); err != nil {
				return err
			}
			cr = newCSVReader(feed, comma)
			continue
		case errors.As(err, &pe):
			where := fmt.Sprintf("CSV line %d", feed.lineBase+pe.StartLine)
			if pe.Line != pe.StartLine {
				where += fmt.Sprintf(", error on line %d", feed.lineBase+pe.Line)
			}
			p.rejectRow(row, fmt.Sprintf("malformed CSV: %v (%s)", pe.Err, where))
			feed.mark(cr.InputOffset())
			continue
		case err != nil:
			return err
		}
		line, _ := cr.FieldPos(0)
		line += feed.lineBase
		feed.mark(cr.InputOffset())
		if err := record(row, line, rec); err != nil {
			return err
		}
	}
}

func newCSVReader(r io.Reader, comma rune) *csv.Reader {
	cr := csv.NewReader(r)
	cr.Comma = comma
	cr.FieldsPerRecord = -1 // checked against the header here, to say more
	cr.ReuseRecord = true
	return cr
}

func isParseError(err error) bool {
	var pe *csv.ParseError
	return errors.As(err, &pe)
}

// csvHeader finds the columns of a header row: those named in known
// (lower case) and, for every other named column, a task. Names are
// trimmed and compared case-insensitively; columns with an empty name
// (such as the index column pandas writes) are ignored.
func (p *parser) csvHeader(header []string, known ...string) (csvColumns, error) {
	cols := csvColumns{n: len(header), at: map[string]int{}}
	byName := make(map[string]int)
	for i, name := range header {
		name = strings.TrimSpace(name)
		if !utf8.ValidString(name) {
			return cols, p.fileError("header row is not valid UTF-8")
		}
		if name == "" {
			continue
		}
		key := strings.ToLower(name)
		if j, dup := byName[key]; dup {
			return cols, p.fileError("duplicate column %q (columns %d and %d)", name, j+1, i+1)
		}
		byName[key] = i
		if slices.Contains(known, key) {
			cols.at[key] = i
			continue
		}
		// A task column labels every row: a name that cannot name a
		// task fails the file (once, naming the column) rather than
		// rejecting each row.
		if err := tinyhead.CheckTaskName(name); err != nil {
			return cols, p.fileError("column %d: %v", i+1, err)
		}
		cols.tasks = append(cols.tasks, i)
		cols.names = append(cols.names, name)
	}
	return cols, nil
}

// quoted lists a header's column names for an error message.
func quoted(header []string) string {
	found := make([]string, len(header))
	for i, name := range header {
		found[i] = strconv.Quote(name)
	}
	return strings.Join(found, ", ")
}

// csvFields checks a record's shape and encoding. A non-empty reason
// rejects the row.
func csvFields(cols csvColumns, rec []string) string {
	if len(rec) != cols.n {
		return fmt.Sprintf("%d fields, the header has %d", len(rec), cols.n)
	}
	for _, f := range rec {
		if !utf8.ValidString(f) {
			return "invalid UTF-8"
		}
	}
	return ""
}

// csvLabels reads the task columns of a record. A non-empty reason
// rejects the row.
func csvLabels(cols csvColumns, rec []string) (map[string]string, string) {
	if len(cols.tasks) == 0 {
		return nil, ""
	}
	labels := make(map[string]string, len(cols.tasks))
	for i, c := range cols.tasks {
		if reason := checkLabel(cols.names[i], rec[c]); reason != "" {
			return nil, reason
		}
		labels[cols.names[i]] = strings.Clone(strings.TrimSpace(rec[c]))
	}
	return labels, ""
}

// csvItem checks one record. A non-empty reason rejects the row.
func (p *parser) csvItem(cols csvColumns, rec []string) (Item, string) {
	if reason := csvFields(cols, rec); reason != "" {
		return Item{}, reason
	}
	// The fields share one string per record: ids and labels are cloned so
	// that what the caller keeps of them (its set of ids seen, labels) does
	// not pin whole records.
	it := Item{Text: rec[cols.col("text")]}
	if reason := p.checkText(it.Text); reason != "" {
		return Item{}, reason
	}
	if c := cols.col("id"); c >= 0 {
		it.ID = strings.Clone(strings.TrimSpace(rec[c]))
		if len(it.ID) > maxNameBytes {
			return Item{}, fmt.Sprintf("id longer than %d bytes", maxNameBytes)
		}
	}
	var reason string
	if c := cols.col("group"); c >= 0 {
		if it.Group, reason = checkGroup(rec[c]); reason != "" {
			return Item{}, reason
		}
		it.Group = strings.Clone(it.Group)
	}
	if c := cols.col("split"); c >= 0 {
		if it.Test, reason = checkSplit(rec[c]); reason != "" {
			return Item{}, reason
		}
	}
	if it.Labels, reason = csvLabels(cols, rec); reason != "" {
		return Item{}, reason
	}
	return it, ""
}

// csvFeed sits between the file and csv.Reader. It hands over at most one
// line per Read, so that csv.Reader never buffers past the record it is
// reading: at each record boundary the bytes fed equal csv's InputOffset,
// and the feed knows where the record began. From there it counts quotes:
// in strict CSV a record ends at the first newline after an even number of
// quotes, which lets it find the next record after one too long to keep.
type csvFeed struct {
	src     *bufio.Reader
	pending []byte // read from src, not yet fed
	err     error  // src's error, reported once pending is drained
	limit   int64

	fed      int64 // bytes fed to the current csv.Reader
	newlines int   // newlines consumed from the file, fed or skipped
	lineBase int   // newlines before the current csv.Reader's first line

	recStart  int64 // fed at the start of the current record
	recLine   int   // file line where the current record starts
	recQuotes int   // quotes fed since recStart
	synced    bool  // recStart is known to be a record boundary
	over      bool  // the current record outgrew limit
}

func (f *csvFeed) Read(b []byte) (int, error) {
	if f.over {
		return 0, errRecordTooLong
	}
	for len(f.pending) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		f.pending, f.err = f.src.ReadSlice('\n')
		if f.err == bufio.ErrBufferFull {
			f.err = nil
		}
	}
	room := f.limit - (f.fed - f.recStart)
	if room <= 0 {
		f.over = true
		return 0, errRecordTooLong
	}
	n := copy(b[:min(int64(len(b)), room)], f.pending)
	f.pending = f.pending[n:]
	f.fed += int64(n)
	f.newlines += bytes.Count(b[:n], []byte("\n"))
	f.recQuotes += bytes.Count(b[:n], []byte(`"`))
	return n, nil
}

// mark records that csv.Reader, now at InputOffset offset, finished a
// record (or a malformed one) and the next starts here.
func (f *csvFeed) mark(offset int64) {
	f.synced = offset == f.fed
	f.recStart, f.recQuotes, f.recLine = f.fed, 0, f.newlines+1
}

// skipRecord drops the rest of an over-long record and resets the feed for
// a new csv.Reader that starts at the next record.
func (f *csvFeed) skipRecord() error {
	inQuotes := f.recQuotes%2 == 1
	for {
		for len(f.pending) == 0 {
			switch {
			case f.err == io.EOF:
				f.restart()
				return nil
			case f.err != nil:
				return f.err
			}
			f.pending, f.err = f.src.ReadSlice('\n')
			if f.err == bufio.ErrBufferFull {
				f.err = nil
			}
		}
		for i, c := range f.pending {
			switch {
			case c == '"':
				inQuotes = !inQuotes
			case c == '\n':
				f.newlines++
				if !inQuotes {
					f.pending = f.pending[i+1:]
					f.restart()
					return nil
				}
			}
		}
		f.pending = nil
	}
}

func (f *csvFeed) restart() {
	f.fed, f.over, f.lineBase = 0, false, f.newlines
	f.mark(0)
}
