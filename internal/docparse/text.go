package docparse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// sniffLen is how much of a single-document file decides whether it is
// text, HTML or mail.
const sniffLen = 8 << 10

// document parses a one-document file: e-mail, HTML or plain text.
func (p *parser) document(r io.Reader, ext string) error {
	br, err := openText(r)
	if err != nil {
		return err
	}
	head, err := br.Peek(sniffLen)
	if err != nil && err != io.EOF {
		return err
	}
	if len(head) == 0 {
		return nil // empty file
	}
	// A message may carry a binary part (Content-Transfer-Encoding:
	// binary), so one that starts with mail headers is never binary.
	sniffedMail := looksLikeMail(head)
	if !sniffedMail && looksBinary(head) {
		return p.fileError("binary content, not text")
	}
	isMail := sniffedMail || ext == ".eml"
	isHTML := ext == ".html" || ext == ".htm" || looksLikeHTML(head)
	htmlCharset := metaCharset(head) // head is valid only until the next read

	data, err := io.ReadAll(io.LimitReader(br, p.opt.MaxFileBytes+1))
	if err != nil {
		return err
	}
	if int64(len(data)) > p.opt.MaxFileBytes {
		return p.fileError("larger than the %d-byte limit for single-document files", p.opt.MaxFileBytes)
	}

	var text string
	switch {
	case isMail:
		text = mailText(data, 0)
	case isHTML:
		text = tidy(stripHTML(decodeText(data, htmlCharset)))
	default:
		text = tidy(decodeText(data, ""))
	}
	if text == "" {
		p.rejectRow(1, "no text")
		return nil
	}
	if len(text) > p.opt.MaxTextBytes {
		p.rejectRow(1, fmt.Sprintf("text is %d bytes, over the limit of %d", len(text), p.opt.MaxTextBytes))
		return nil
	}
	labels := PathLabels(p.name)
	for task := range labels {
		if err := tinyhead.CheckTaskName(task); err != nil {
			p.rejectRow(1, "path label: "+err.Error())
			return nil
		}
	}
	return p.emitItem(Item{Row: 1, Text: text, Labels: labels})
}

// refuseBinary fails a table file (JSON Lines, CSV) whose start is not
// text — a compressed export named .jsonl, say — as one unreadable file,
// instead of rejecting each of its "rows".
func (p *parser) refuseBinary(br *bufio.Reader) error {
	head, err := br.Peek(sniffLen)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return err
	}
	if looksBinary(head) {
		return p.fileError("binary content, not text")
	}
	return nil
}

// looksBinary reports whether the start of a file is not text: it holds a
// NUL byte, more than 10% control characters, or is mostly invalid UTF-8.
// Legacy 8-bit text (Latin-1, Windows-1252) passes: its high bytes are
// invalid UTF-8 but a minority.
func looksBinary(head []byte) bool {
	if bytes.IndexByte(head, 0) >= 0 {
		return true
	}
	var controls, invalid int
	for i := 0; i < len(head); {
		c := head[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && !strings.ContainsRune("\t\n\v\f\r\x1b", rune(c)) || c == 0x7f {
				controls++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(head[i:])
		if r == utf8.RuneError && size == 1 {
			if !utf8.FullRune(head[i:]) && len(head) == sniffLen {
				break // a rune cut by the sniff window
			}
			invalid++
		}
		i += size
	}
	return controls*10 > len(head) || invalid*2 > len(head)
}

// looksLikeMail reports whether a file starts like an RFC 822 message: an
// optional mbox "From " line, then only header lines, at least one of them
// a well-known mail header, up to the first blank line (or the end of the
// sniff window).
func looksLikeMail(head []byte) bool {
	lines := strings.Split(string(head), "\n")
	if strings.HasPrefix(lines[0], "From ") {
		lines = lines[1:]
	}
	known := false
	for i, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		switch {
		case line == "":
			return i > 0 && known
		case i == len(lines)-1 && len(head) == sniffLen:
			return known // cut by the sniff window
		case line[0] == ' ' || line[0] == '\t':
			if i == 0 {
				return false
			}
		default:
			key, ok := headerKey(line)
			if !ok {
				return false
			}
			known = known || isMailHeader(key)
		}
	}
	return known
}

// headerKey returns the field name of a "Name: value" header line.
func headerKey(line string) (string, bool) {
	i := strings.IndexByte(line, ':')
	if i <= 0 {
		return "", false
	}
	for _, c := range []byte(line[:i]) {
		if c <= ' ' || c >= 0x7f {
			return "", false
		}
	}
	return line[:i], true
}

// isMailHeader reports whether a header name is one a message starts with.
func isMailHeader(key string) bool {
	switch strings.ToLower(key) {
	case "return-path", "received", "from", "sender", "reply-to", "to", "cc",
		"subject", "date", "message-id", "delivered-to", "mime-version",
		"x-original-to", "envelope-to", "x-sender", "x-mailer":
		return true
	}
	return false
}

// looksLikeHTML reports whether a file starts with an HTML document's tags.
func looksLikeHTML(head []byte) bool {
	s := strings.ToLower(strings.TrimLeftFunc(string(head[:min(len(head), 512)]), unicode.IsSpace))
	for _, prefix := range []string{"<!doctype html", "<html", "<head", "<body"} {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// metaCharset returns the charset an HTML document declares in its first
// kilobyte (<meta charset=...> or http-equiv content="...; charset=..."),
// or "".
func metaCharset(b []byte) string {
	s := strings.ToLower(string(b[:min(len(b), 1024)]))
	i := strings.Index(s, "charset=")
	if i < 0 || !strings.Contains(s[:i], "<meta") {
		return ""
	}
	s = strings.TrimLeft(s[i+len("charset="):], `"' `)
	end := strings.IndexAny(s, "\"'; />")
	if end < 0 {
		return ""
	}
	return s[:end]
}

// lookupCharset returns the decoder for a declared charset, or nil for
// none, UTF-8 and names it does not know. It forgives the "3D" left by a
// charset=3D... written in quoted-printable.
func lookupCharset(name string) encoding.Encoding {
	name = strings.TrimPrefix(strings.ToLower(strings.Trim(name, " \t\"'")), "3d")
	switch name {
	case "", "utf-8", "utf8":
		return nil
	}
	enc, err := htmlindex.Get(name)
	if err != nil {
		return nil
	}
	return enc
}

// decodeText returns b as UTF-8. Bytes that are valid UTF-8 are taken as
// such whatever the declared charset says (mislabelled mail is common, and
// legacy 8-bit or CJK text is rarely valid UTF-8), except for the 7-bit
// stateful ISO-2022 encodings. Undeclared or unknown non-UTF-8 bytes are
// read as Windows-1252, which maps every byte.
func decodeText(b []byte, charset string) string {
	enc := lookupCharset(charset)
	valid := utf8.Valid(b)
	if enc != nil && (!valid || strings.Contains(strings.ToLower(charset), "2022")) {
		if s, err := enc.NewDecoder().Bytes(b); err == nil {
			return strings.ToValidUTF8(string(s), "\uFFFD")
		}
	}
	if valid {
		return string(b)
	}
	s, _ := charmap.Windows1252.NewDecoder().Bytes(b) // cannot fail: every byte maps
	return string(s)
}

// tidy makes extracted text readable and compact: line ends become "\n",
// runs of spaces (and control or invisible characters) one space, lines are
// trimmed, and runs of blank lines become one blank line.
func tidy(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	newlines, space := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				continue
			}
			newlines++
		case c == '\n':
			newlines++
		case c < utf8.RuneSelf && (c <= ' ' || c == 0x7f):
			space = true
		case c < utf8.RuneSelf:
			writeSep(&b, newlines, space)
			newlines, space = 0, false
			b.WriteByte(c)
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			i += size - 1
			switch {
			case unicode.IsSpace(r) || unicode.IsControl(r):
				space = true
			case r == '\u200b' || r == '\ufeff' || r == '\u00ad':
				// zero-width space, stray BOM, soft hyphen: invisible
			default:
				writeSep(&b, newlines, space)
				newlines, space = 0, false
				b.WriteRune(r) // writes U+FFFD for an invalid byte
			}
		}
	}
	return b.String()
}

// writeSep writes what separates the next visible character from the last
// one: nothing at the start, a line break or blank line, or one space.
func writeSep(b *strings.Builder, newlines int, space bool) {
	switch {
	case b.Len() == 0:
	case newlines >= 2:
		b.WriteString("\n\n")
	case newlines == 1:
		b.WriteByte('\n')
	case space:
		b.WriteByte(' ')
	}
}
