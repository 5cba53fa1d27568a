package docparse

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// stripHTML returns the visible text of an HTML document or fragment: tags
// and comments removed, script, style and title contents dropped, entities
// unescaped. Block-level tags become line breaks; source line breaks,
// which a browser does not show, become spaces. Tags inside words (a spam
// trick: "V<b></b>iagra") leave nothing behind. The result wants tidy.
//
// It runs golang.org/x/net/html's tokenizer, which reads broken markup
// as a browser does (an unclosed comment, script or quoted attribute value
// hides the rest), without building a tree.
func stripHTML(s string) string {
	var b strings.Builder
	b.Grow(len(s) / 2)
	z := html.NewTokenizer(strings.NewReader(s))
	var hidden atom.Atom // the script, style or title element being skipped
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return b.String() // io.EOF: a strings.Reader has no other error
		case html.TextToken:
			if hidden == 0 {
				writeHTMLText(&b, z.Text())
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			switch {
			case hidden != 0:
				if tt == html.EndTagToken && a == hidden {
					hidden = 0
				}
			case tt == html.StartTagToken && (a == atom.Script || a == atom.Style || a == atom.Title):
				hidden = a
			default:
				if tt == html.StartTagToken {
					// The text of textarea, noscript, xmp and the like
					// is shown, its tags are not.
					z.NextIsNotRawText()
				}
				b.WriteString(tagBreak(a))
			}
		}
	}
}

// writeHTMLText writes a text run (its entities already unescaped by the
// tokenizer) with its line breaks as spaces.
func writeHTMLText(b *strings.Builder, text []byte) {
	for _, c := range text {
		if c == '\n' || c == '\r' {
			c = ' '
		}
		b.WriteByte(c)
	}
}

// tagBreak is the text a tag stands for.
func tagBreak(a atom.Atom) string {
	switch a {
	case atom.Br, atom.P, atom.Div, atom.Li, atom.Tr, atom.Table, atom.Ul, atom.Ol, atom.Dl, atom.Dt, atom.Dd,
		atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Blockquote, atom.Pre, atom.Hr,
		atom.Section, atom.Article, atom.Header, atom.Footer, atom.Nav, atom.Aside, atom.Main,
		atom.Form, atom.Fieldset, atom.Address, atom.Figure, atom.Figcaption, atom.Center,
		atom.Select, atom.Option:
		return "\n"
	case atom.Td, atom.Th:
		return " "
	}
	return ""
}
