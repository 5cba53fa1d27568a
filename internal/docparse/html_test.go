package docparse

import "testing"

func TestStripHTML(t *testing.T) {
	tests := []struct {
		name, html, want string
	}{
		{"plain", "just text", "just text"},
		{"entities", "Caf&eacute; &amp; bar &lt;3 &#233;&nbsp;x", "Café & bar <3 é\u00a0x"},
		{"tags inside words", "V<b></b>i<!-- x -->agra", "Viagra"},
		{"blocks break lines, cells space", "<p>one</p><div>two<br>three</div><table><tr><td>a</td><td>b</td></tr></table>",
			"\none\n\ntwo\nthree\n\n\n a  b \n\n"},
		{"source line breaks are spaces", "a\nb\r\nc", "a b c"},
		{"script, style and title dropped", "<title>T</title><style>p {}</style><script>if (a<b) x('</p>')</script>text", "text"},
		{"upper case", "<SCRIPT>x()</SCRIPT><P>text", "\ntext"},
		{"quoted >", `<a href="x>y" title='>'>link</a>`, "link"},
		{"lone <", "a < b", "a < b"},
		{"doctype and processing instruction", "<!DOCTYPE html><?xml version=\"1.0\"?>text", "text"},
		{"unclosed comment hides the rest", "seen<!-- hidden", "seen"},
		{"unclosed script hides the rest", "seen<script>hidden", "seen"},
		{"text of raw-text elements is shown without its tags", "<noscript><p>a</p></noscript><textarea>b<i>c</i></textarea>", "\na\nbc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stripHTML(tt.html); got != tt.want {
				t.Errorf("stripHTML(%q) = %q, want %q", tt.html, got, tt.want)
			}
		})
	}
}
