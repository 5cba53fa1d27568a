package customhandler

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Decode reads one invocation from r. The values of the Data bindings named
// in skip are read through and discarded without being held, so that a
// blob trigger's base64 copy of the blob ("dataType": "binary") costs no
// memory; they are absent from the result's Data, and only their
// framing is checked (a string's quotes, brackets' nesting). Every other
// value is checked as encoding/json would. Anything after the
// invocation's object other than white space is an error.
func Decode(r io.Reader, skip ...string) (*InvokeRequest, error) {
	d := &decoder{r: bufio.NewReaderSize(r, 64<<10)}
	req := &InvokeRequest{Data: map[string]json.RawMessage{}, Metadata: map[string]json.RawMessage{}}
	err := d.object(func(key string) error {
		// Keys match as encoding/json matches struct fields: ignoring case.
		switch {
		case strings.EqualFold(key, "Data"):
			return d.rawFields(req.Data, skip)
		case strings.EqualFold(key, "Metadata"):
			return d.rawFields(req.Metadata, nil)
		default:
			var buf bytes.Buffer
			if err := d.value(&buf); err != nil {
				return err
			}
			if !json.Valid(buf.Bytes()) {
				return d.syntax(fmt.Sprintf("value of %q is not valid JSON", key))
			}
			return nil
		}
	})
	if err != nil {
		return nil, fmt.Errorf("decode invocation: %w", err)
	}
	if c, err := d.next(); err != io.EOF {
		if err != nil {
			return nil, fmt.Errorf("decode invocation: %w", err)
		}
		return nil, fmt.Errorf("decode invocation: data after the object (%q)", c)
	}
	return req, nil
}

// decoder is a small streaming JSON reader: enough to walk the
// invocation's two levels of objects and to copy or skip any value.
type decoder struct {
	r   *bufio.Reader
	off int64 // bytes consumed, for error messages
}

var errSyntax = errors.New("invalid JSON")

// next returns the next byte that is not white space.
func (d *decoder) next() (byte, error) {
	for {
		c, err := d.r.ReadByte()
		if err != nil {
			return 0, err
		}
		d.off++
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c, nil
	}
}

func (d *decoder) syntax(what string) error {
	return fmt.Errorf("%w at byte %d: %s", errSyntax, d.off, what)
}

// unexpected turns an end of input inside a value into an error.
func (d *decoder) unexpected(err error) error {
	if err == io.EOF {
		return fmt.Errorf("%w: unexpected end of input at byte %d", errSyntax, d.off)
	}
	return err
}

// object reads an object, calling field for each key with the reader
// positioned at the key's value, which field must read.
func (d *decoder) object(field func(key string) error) error {
	c, err := d.next()
	if err != nil {
		return d.unexpected(err)
	}
	if c == 'n' { // null: no fields
		return d.literal(nil, c)
	}
	if c != '{' {
		return d.syntax("want an object")
	}
	for first := true; ; first = false {
		c, err := d.next()
		if err != nil {
			return d.unexpected(err)
		}
		if c == '}' && first {
			return nil
		}
		if c != '"' {
			return d.syntax("want a key")
		}
		var raw bytes.Buffer
		raw.WriteByte('"')
		if err := d.str(&raw); err != nil {
			return err
		}
		var key string
		if err := json.Unmarshal(raw.Bytes(), &key); err != nil {
			return d.syntax("bad key: " + err.Error())
		}
		if c, err := d.next(); err != nil || c != ':' {
			return d.unexpected(orSyntax(err, d, "want ':'"))
		}
		if err := field(key); err != nil {
			return err
		}
		c, err = d.next()
		if err != nil {
			return d.unexpected(err)
		}
		switch c {
		case ',':
		case '}':
			return nil
		default:
			return d.syntax("want ',' or '}'")
		}
	}
}

func orSyntax(err error, d *decoder, what string) error {
	if err != nil {
		return err
	}
	return d.syntax(what)
}

// rawFields reads an object into m, key by key, skipping the keys in skip.
func (d *decoder) rawFields(m map[string]json.RawMessage, skip []string) error {
	return d.object(func(key string) error {
		for _, s := range skip {
			if key == s {
				delete(m, key)
				return d.value(nil)
			}
		}
		var buf bytes.Buffer
		if err := d.value(&buf); err != nil {
			return err
		}
		if !json.Valid(buf.Bytes()) {
			return d.syntax(fmt.Sprintf("value of %q is not valid JSON", key))
		}
		m[key] = buf.Bytes()
		return nil
	})
}

// value reads one value, copying its text to out unless out is nil.
func (d *decoder) value(out *bytes.Buffer) error {
	c, err := d.next()
	if err != nil {
		return d.unexpected(err)
	}
	switch {
	case c == '"':
		if out != nil {
			out.WriteByte(c)
		}
		return d.str(out)
	case c == '{' || c == '[':
		return d.nested(out, c)
	default:
		return d.literal(out, c)
	}
}

// str reads the rest of a string after its opening quote. Long strings
// are scanned a buffer at a time.
func (d *decoder) str(out *bytes.Buffer) error {
	escaped := false
	for {
		chunk, err := d.r.ReadSlice('"')
		d.off += int64(len(chunk))
		if out != nil {
			out.Write(chunk)
		}
		switch {
		case err == bufio.ErrBufferFull:
			escaped = endsEscaped(chunk, escaped)
			continue
		case err != nil:
			return d.unexpected(err)
		}
		// chunk ends with '"': it closes the string unless an odd run of
		// backslashes precedes it.
		if !endsEscaped(chunk[:len(chunk)-1], escaped) {
			return nil
		}
		escaped = false
	}
}

// endsEscaped reports whether the byte after b is escaped: b ends with an
// odd run of backslashes (counting the state carried in from before b).
func endsEscaped(b []byte, escaped bool) bool {
	n := 0
	for n < len(b) && b[len(b)-1-n] == '\\' {
		n++
	}
	if n == len(b) {
		return escaped != (n%2 == 1)
	}
	return n%2 == 1
}

// nested reads the rest of an object or array after its opening bracket.
func (d *decoder) nested(out *bytes.Buffer, open byte) error {
	if out != nil {
		out.WriteByte(open)
	}
	depth := 1
	for depth > 0 {
		c, err := d.r.ReadByte()
		if err != nil {
			return d.unexpected(err)
		}
		d.off++
		if out != nil {
			out.WriteByte(c)
		}
		switch c {
		case '"':
			if err := d.str(out); err != nil {
				return err
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
	}
	return nil
}

// literal reads a number, true, false or null whose first byte is c.
func (d *decoder) literal(out *bytes.Buffer, c byte) error {
	var buf [32]byte
	lit := append(buf[:0], c)
	for {
		b, err := d.r.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if !isLiteralByte(b) {
			if err := d.r.UnreadByte(); err != nil {
				return err
			}
			break
		}
		d.off++
		if len(lit) == 64 {
			return d.syntax("literal too long")
		}
		lit = append(lit, b)
	}
	if !json.Valid(lit) {
		return d.syntax(fmt.Sprintf("bad literal %q", lit))
	}
	if out != nil {
		out.Write(lit)
	}
	return nil
}

func isLiteralByte(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '-' || b == '+' || b == '.'
}
