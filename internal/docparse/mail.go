package docparse

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"unicode/utf8"
)

// maxMIMEDepth bounds the nesting of multiparts and attached messages that
// mailText follows.
const maxMIMEDepth = 10

// mailText returns the subject and body text of a raw RFC 822 message,
// "subject\n\nbody", tidied. The body is the message's readable text:
// text/plain preferred over text/html within multipart/alternative, HTML
// reduced to its visible text, attachments ignored. Mail that net/mail
// cannot read even with its header block repaired falls back to the raw
// text after that block; a "message" without any header is all body.
func mailText(data []byte, depth int) string {
	if bytes.HasPrefix(data, []byte("From ")) { // mbox separator line
		data = after2(data, []byte("\n"))
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		msg, err = mail.ReadMessage(bytes.NewReader(cleanHeaders(data)))
	}
	switch {
	case err != nil:
		return tidy(decodeText(bodyAfterHeaders(data), ""))
	case len(msg.Header) == 0:
		return tidy(decodeText(data, "")) // no header at all: not really mail
	}
	body, _ := io.ReadAll(msg.Body) // reads a bytes.Reader: cannot fail
	text, _ := partText(textproto.MIMEHeader(msg.Header), body, depth)
	return joinText(tidy(decodeHeader(msg.Header.Get("Subject"))), tidy(text))
}

// partText returns the text of one MIME entity (a message or a part), and
// whether it came from HTML.
func partText(h textproto.MIMEHeader, body []byte, depth int) (text string, isHTML bool) {
	if depth > maxMIMEDepth {
		return "", false
	}
	ct := h.Get("Content-Type")
	mediaType, params := mediaType(ct)
	if strings.HasPrefix(mediaType, "multipart/") || ct == "" {
		parts := splitMultipart(body, params["boundary"])
		if parts == nil {
			// Spam often declares a wrong boundary, or none at all.
			parts = splitMultipart(body, sniffBoundary(body))
		}
		switch {
		case parts != nil:
			return multipartText(mediaType, parts, depth)
		case ct != "":
			// Not really multipart: its raw text is better than nothing.
			return rawText(body)
		}
	}
	if disp, _, _ := mime.ParseMediaType(h.Get("Content-Disposition")); disp == "attachment" {
		return "", false
	}
	switch mediaType {
	case "message/rfc822": // a forwarded or bounced message
		return mailText(decodeTransfer(body, h.Get("Content-Transfer-Encoding")), depth+1), false
	case "text/plain":
		text := decodeText(decodeTransfer(body, h.Get("Content-Transfer-Encoding")), params["charset"])
		if htmlish(text) { // HTML sent as (or defaulted to) text/plain
			text = stripHTML(text)
		}
		return text, false
	case "text/html", "text/enriched", "text/richtext":
		raw := decodeTransfer(body, h.Get("Content-Transfer-Encoding"))
		charset := params["charset"]
		if charset == "" {
			charset = metaCharset(raw)
		}
		return stripHTML(decodeText(raw, charset)), true
	}
	return "", false // images, signatures, other attachments
}

// multipartText returns the text of a multipart's parts: the best one of
// multipart/alternative, all of the others joined.
func multipartText(mediaType string, parts []mimePart, depth int) (string, bool) {
	if mediaType == "multipart/alternative" {
		return bestAlternative(parts, depth)
	}
	var texts []string
	allHTML := true
	for _, part := range parts {
		t, html := partText(part.header, part.body, depth+1)
		if strings.TrimSpace(t) != "" {
			texts = append(texts, t)
			allHTML = allHTML && html
		}
	}
	return strings.Join(texts, "\n\n"), allHTML && len(texts) > 0
}

// sniffBoundary finds the boundary of a multipart body from its first
// delimiter line: "--" then a token, followed by a Content-Type or
// Content-Transfer-Encoding field, within the first kilobyte. "" if none.
func sniffBoundary(body []byte) string {
	lines := strings.Split(string(body[:min(len(body), 1024)]), "\n")
	for i := 0; i+1 < len(lines); i++ {
		line := strings.TrimRight(lines[i], " \t\r")
		if len(line) < 3 || !strings.HasPrefix(line, "--") || strings.ContainsAny(line, " \t") {
			continue
		}
		key, _ := headerKey(lines[i+1])
		if k := strings.ToLower(key); k == "content-type" || k == "content-transfer-encoding" {
			return line[2:]
		}
	}
	return ""
}

// bestAlternative picks the text/plain rendering, or the HTML one when
// there is no plain text or the plain text is only a stub ("This is an
// HTML message"): short and a small fraction of the HTML's text.
func bestAlternative(parts []mimePart, depth int) (string, bool) {
	var plain, html string
	for _, part := range parts {
		t, isHTML := partText(part.header, part.body, depth+1)
		t = tidy(t)
		switch {
		case t == "":
		case !isHTML && plain == "":
			plain = t
		case isHTML && html == "":
			html = t
		}
	}
	if plain == "" || len(plain) < maxStubBytes && len(plain)*4 < len(html) {
		return html, html != ""
	}
	return plain, false
}

// maxStubBytes bounds the plain-text part bestAlternative may take for a
// stub.
const maxStubBytes = 256

// rawText is the text of a body whose structure could not be read.
func rawText(body []byte) (string, bool) {
	s := decodeText(body, "")
	if htmlish(s) {
		return stripHTML(s), true
	}
	return s, false
}

// htmlish reports whether text is an HTML document: it starts with a tag
// and has an <html> or <body> tag near the start.
func htmlish(s string) bool {
	s = strings.TrimSpace(s[:min(len(s), 4096)])
	if !strings.HasPrefix(s, "<") {
		return false
	}
	s = strings.ToLower(s)
	return strings.Contains(s, "<html") || strings.Contains(s, "<body")
}

type mimePart struct {
	header textproto.MIMEHeader
	body   []byte
}

// splitMultipart returns the parts of a multipart body, as many as can be
// read; nil when there are none.
func splitMultipart(body []byte, boundary string) []mimePart {
	if boundary == "" {
		return nil
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var parts []mimePart
	for {
		// NextRawPart, unlike NextPart, leaves Content-Transfer-Encoding to
		// decodeTransfer, which is more forgiving.
		p, err := mr.NextRawPart()
		if err != nil {
			return parts
		}
		b, err := io.ReadAll(p)
		parts = append(parts, mimePart{p.Header, b})
		if err != nil { // a truncated last part: keep what was there
			return parts
		}
	}
}

// mediaType parses a Content-Type, leniently: a malformed one still yields
// its type and whatever charset and boundary can be found. A missing one
// is text/plain (RFC 2045).
func mediaType(v string) (string, map[string]string) {
	if strings.TrimSpace(v) == "" {
		return "text/plain", nil
	}
	mt, params, err := mime.ParseMediaType(v)
	if err == nil {
		return mt, params
	}
	mt = strings.ToLower(strings.TrimSpace(v))
	if i := strings.IndexAny(mt, "; \t"); i >= 0 {
		mt = mt[:i]
	}
	params = make(map[string]string)
	for _, key := range []string{"charset", "boundary"} {
		i := strings.Index(strings.ToLower(v), key+"=")
		if i < 0 {
			continue
		}
		val := v[i+len(key)+1:]
		if strings.HasPrefix(val, `"`) {
			val = val[1:]
			if j := strings.IndexByte(val, '"'); j >= 0 {
				val = val[:j]
			}
		} else if j := strings.IndexAny(val, "; \t"); j >= 0 {
			val = val[:j]
		}
		params[key] = val
	}
	return mt, params
}

// decodeTransfer undoes a Content-Transfer-Encoding. Broken encodings give
// what can be decoded rather than nothing.
func decodeTransfer(b []byte, cte string) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
		if err != nil {
			// quotedprintable gives up at the first bad sequence; decode
			// line by line so that one bad line costs only itself.
			return decodeQPLines(b)
		}
		return out
	case "base64":
		return decodeBase64(b)
	}
	return b // 7bit, 8bit, binary, or unknown
}

// decodeQPLines decodes quoted-printable one line at a time, keeping a
// line that does not decode as it is.
func decodeQPLines(b []byte) []byte {
	var out bytes.Buffer
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line = b[:i+1]
		}
		b = b[len(line):]
		dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(line)))
		if err != nil {
			dec = line
		}
		out.Write(dec)
	}
	return out.Bytes()
}

// decodeBase64 decodes base64 ignoring anything outside its alphabet (line
// breaks, stray spaces) and stopping at padding.
func decodeBase64(b []byte) []byte {
	clean := make([]byte, 0, len(b))
	for _, c := range b {
		if c == '=' {
			break
		}
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' {
			clean = append(clean, c)
		}
	}
	if len(clean)%4 == 1 { // a lone sextet holds no whole byte
		clean = clean[:len(clean)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}

// decodeHeader decodes RFC 2047 encoded words in a header value, in any
// charset htmlindex knows; raw 8-bit bytes are read as decodeText reads
// them.
func decodeHeader(v string) string {
	dec := mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
		enc := lookupCharset(charset)
		if enc == nil {
			return r, nil // UTF-8 or unknown: decodeText below copes
		}
		return enc.NewDecoder().Reader(r), nil
	}}
	if s, err := dec.DecodeHeader(v); err == nil {
		v = s
	}
	if !utf8.ValidString(v) {
		v = decodeText([]byte(v), "")
	}
	return v
}

// cleanHeaders repairs the header block of a sloppy message so that
// net/mail can read it: a line that is neither a "Name: value" field nor a
// continuation is joined to the field before it, or dropped.
func cleanHeaders(data []byte) []byte {
	var out bytes.Buffer
	kept := false
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = data[:i+1]
		}
		data = data[len(line):]
		trimmed := strings.TrimRight(string(line), "\r\n")
		if trimmed == "" {
			out.WriteString("\r\n")
			out.Write(data)
			return out.Bytes()
		}
		if trimmed[0] == ' ' || trimmed[0] == '\t' {
			if kept {
				out.Write(line)
			}
			continue
		}
		if _, ok := headerKey(trimmed); ok {
			out.Write(line)
			kept = true
			continue
		}
		// A line folded without the leading space, typically inside a long
		// quoted boundary: join it to the field it continues.
		if kept {
			b := bytes.TrimRight(out.Bytes(), "\r\n")
			out.Truncate(len(b))
			out.Write(line)
		}
	}
	return out.Bytes()
}

// bodyAfterHeaders is what follows the header block, or all of data when
// no blank line ends one.
func bodyAfterHeaders(data []byte) []byte {
	end, sep := -1, 0
	for _, s := range []string{"\n\n", "\n\r\n"} {
		if i := bytes.Index(data, []byte(s)); i >= 0 && (end < 0 || i < end) {
			end, sep = i, len(s)
		}
	}
	if end < 0 {
		return data
	}
	return data[end+sep:]
}

// joinText joins a subject and a body with a blank line, leaving out an
// empty one.
func joinText(subject, body string) string {
	switch {
	case subject == "":
		return body
	case body == "":
		return subject
	}
	return subject + "\n\n" + body
}

// after2 is after for bytes.
func after2(b, sep []byte) []byte {
	if i := bytes.Index(b, sep); i >= 0 {
		return b[i+len(sep):]
	}
	return nil
}
