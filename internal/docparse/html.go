package docparse

import (
	"html"
	"strings"
)

// stripHTML returns the visible text of an HTML document or fragment: tags
// and comments removed, script, style and title contents dropped, entities
// unescaped. Block-level tags become line breaks; source line breaks,
// which a browser does not show, become spaces. Tags inside words (a spam
// trick: "V<b></b>iagra") leave nothing behind. The result wants tidy.
//
// It is a tolerant scanner, not a parser: it follows what a browser shows
// for broken markup where that is cheap (an unclosed comment or script
// hides the rest), and otherwise keeps text.
func stripHTML(s string) string {
	var b strings.Builder
	b.Grow(len(s) / 2)
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			writeHTMLText(&b, s)
			break
		}
		writeHTMLText(&b, s[:i])
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "<!--"):
			s = after(s[4:], "-->")
		case strings.HasPrefix(s, "<!") || strings.HasPrefix(s, "<?"):
			s = after(s, ">") // doctype, CDATA, processing instruction
		case len(s) > 1 && (isLetter(s[1]) || s[1] == '/' && len(s) > 2 && isLetter(s[2])):
			name, end := scanTag(s)
			s = s[end:]
			switch name {
			case "script", "style", "title":
				s = after(endTag(s, name), ">")
			default:
				b.WriteString(tagBreak(name))
			}
		default:
			b.WriteByte('<') // a lone "<", as in "a < b"
			s = s[1:]
		}
	}
	return b.String()
}

// writeHTMLText writes a text run with entities unescaped and its line
// breaks as spaces.
func writeHTMLText(b *strings.Builder, s string) {
	if s == "" {
		return
	}
	b.WriteString(strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, html.UnescapeString(s)))
}

// scanTag reads the tag at the start of s ("<name ...>" or "</name>") and
// returns its lower-case name ("/name" for an end tag) and length. A '>'
// inside a quoted attribute value does not end the tag; a tag never closed
// runs to the end of s.
func scanTag(s string) (name string, n int) {
	i := 1
	if s[i] == '/' {
		i++
	}
	for i < len(s) && (isLetter(s[i]) || s[i] >= '0' && s[i] <= '9' || s[i] == '-' || s[i] == ':') {
		i++
	}
	name = strings.ToLower(s[1:i])
	if end := strings.IndexByte(s[i:], '>'); end >= 0 && !strings.ContainsAny(s[i:i+end], `"'`) {
		return name, i + end + 1 // the common case: no quotes
	}
	// Quotes are followed only for a while, so that a stray one costs
	// little; browsers would hide the rest of the document.
	var quote byte
	for j := i; j < min(len(s), i+maxTagBytes); j++ {
		switch c := s[j]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			if j > 0 && (s[j-1] == '=' || s[j-1] == ' ') {
				quote = c
			}
		case c == '>':
			return name, j + 1
		}
	}
	// An unbalanced quote: fall back to the first '>'.
	if end := strings.IndexByte(s[i:], '>'); end >= 0 {
		return name, i + end + 1
	}
	return name, len(s)
}

// maxTagBytes bounds how far scanTag follows quoted attribute values.
const maxTagBytes = 4096

// tagBreak is the text a tag stands for.
func tagBreak(name string) string {
	switch strings.TrimPrefix(name, "/") {
	case "br", "p", "div", "li", "tr", "table", "ul", "ol", "dl", "dt", "dd",
		"h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr",
		"section", "article", "header", "footer", "nav", "aside", "main",
		"form", "fieldset", "address", "figure", "figcaption", "center",
		"select", "option":
		return "\n"
	case "td", "th":
		return " "
	}
	return ""
}

// after returns what follows the first sep in s, or "" when there is none.
func after(s, sep string) string {
	if i := strings.Index(s, sep); i >= 0 {
		return s[i+len(sep):]
	}
	return ""
}

// endTag returns s from the end tag </name> (ASCII case-insensitive) on,
// or "" when there is none.
func endTag(s, name string) string {
	for i := 0; ; i += 2 {
		j := strings.Index(s[i:], "</")
		if j < 0 {
			return ""
		}
		i += j
		if len(s)-i-2 >= len(name) && strings.EqualFold(s[i+2:i+2+len(name)], name) {
			return s[i:]
		}
	}
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
