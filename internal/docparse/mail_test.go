package docparse

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRealEmails parses the corpus messages in testdata (see its README).
func TestRealEmails(t *testing.T) {
	for _, tc := range []struct {
		file     string
		start    string   // the text starts with this (subject, blank line, body)
		contains []string // and holds these
		absent   []string // but none of these
	}{{
		file:     "alternative-qp.eml",
		start:    "Guaranteed to lose 10-12 lbs in 30 days with Slim Patch 10.24\n\n1) Join the Web's Hottest & Fastest Growing Community\n",
		contains: []string{"Slim Patch - Weight Loss Patches", "Offer Manager"},
		absent:   []string{"<html", "=3D", "Content-Type", "This is a multi-part message", "\n\n\n"},
	}, {
		file:     "attachment.eml",
		start:    "asap\n\nAluko Martin\n23 victoriaGarden city,\nlagos-Nigeria.",
		contains: []string{"US$34,700,000", "absolute confidentiality"},
		absent:   []string{"=2C", "MailXS_list", "SecAtt"},
	}, {
		file:     "base64-html.eml",
		start:    "Yeni s",
		contains: []string{"SMS programimiz çesitli aksakliklar", "indirmek için buraya tiklayiniz"},
		absent:   []string{"PGh0bWw", "<font", "SMSTR lilhwmuxvrsyqcwjhvttxw"}, // the <title> is dropped
	}, {
		file:     "html-qp.eml",
		start:    "Re: Your love life NWKFJ\n\nA man endowed with a 7-8\" hammer is simply\nbetter equipped",
		contains: []string{"fall short. It's totally up\nto you.", "increase your size by 1-3\"\nCome in here and see how"},
		absent:   []string{"<", "=3D", "=\n"},
	}, {
		file:     "iso-2022-jp.eml",
		start:    "未承諾広告※灼熱！出会いの広場\n\n<事業者>\n氏名:Vip-mail\n突然のメール失礼いたします。",
		contains: []string{"☆★☆★", "stop-vip@e-project-web.com"},
		absent:   []string{"$B", "\x1b"},
	}, {
		file:  "plain-ham.eml",
		start: "[Spambayes] speed\n\nIf the frequency of my laptop's disk chirps are any indication, I'd say\nhammie is about 3-5x faster than SpamAssassin.\n\nSkip",
	}} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res := parse(t, "spam/x/"+tc.file, f, Options{})
			if res.err != nil || len(res.rejects) != 0 || len(res.items) != 1 {
				t.Fatalf("got %+v", res)
			}
			it := res.items[0]
			if it.Row != 1 || it.ID != "" || it.Labels["spam"] != "x" {
				t.Errorf("item = %+v", it)
			}
			if !strings.HasPrefix(it.Text, tc.start) {
				t.Errorf("text starts %q, want %q", it.Text[:min(len(it.Text), len(tc.start)+20)], tc.start)
			}
			for _, s := range tc.contains {
				if !strings.Contains(it.Text, s) {
					t.Errorf("text lacks %q:\n%s", s, it.Text)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(it.Text, s) {
					t.Errorf("text holds %q:\n%s", s, it.Text)
				}
			}
		})
	}
}

func TestMail(t *testing.T) {
	for _, tc := range []struct {
		name, mail string
		want       string // "" means rejected with "no text"
	}{{
		name: "koi8-r body and encoded subject",
		mail: "From: a@b\nSubject: =?koi8-r?Q?=F0=D2=C9=D7=C5=D4?=\nContent-Type: text/plain; charset=koi8-r\n" +
			"Content-Transfer-Encoding: 8bit\n\n\xf0\xd2\xc9\xd7\xc5\xd4, \xcd\xc9\xd2!\n",
		want: "Привет\n\nПривет, мир!",
	}, {
		name: "undeclared 8-bit is Windows-1252",
		mail: "From: a@b\nSubject: caf\xe9\n\nna\xefve \x93quotes\x94\n",
		want: "café\n\nnaïve “quotes”",
	}, {
		name: "mislabelled UTF-8 stays UTF-8",
		mail: "From: a@b\nSubject: s\nContent-Type: text/plain; charset=iso-8859-1\n\nnaïve\n",
		want: "s\n\nnaïve",
	}, {
		name: "charset=3D and quoted-printable",
		mail: "From: a@b\nSubject: s\nContent-Type: text/plain; charset=3Dwindows-1252\nContent-Transfer-Encoding: quoted-printable\n\n" +
			"caf=E9 au=\n lait=20\n=3D done=\n",
		want: "s\n\ncafé au lait\n= done",
	}, {
		name: "broken quoted-printable keeps the rest",
		mail: "From: a@b\nSubject: s\nContent-Transfer-Encoding: quoted-printable\n\nfirst=\x01line\nsecond=20line\n",
		want: "s\n\nfirst= line\nsecond line",
	}, {
		name: "base64 with junk and no padding",
		mail: "From: a@b\nSubject: s\nContent-Transfer-Encoding: base64\n\naGVsbG8g\nd29y bGQ\n",
		want: "s\n\nhello world",
	}, {
		name: "malformed header line",
		mail: "From: a@b\nthis is not a header\nSubject: kept\nContent-Type: text/html\n\n<p>para&nbsp;one</p><p>two</p>\n",
		want: "kept\n\npara one\n\ntwo",
	}, {
		name: "boundary folded without a space",
		mail: "From: a@b\nSubject: s\nContent-Type: multipart/mixed; boundary=\"abc\n123\"\n\n--abc123\nContent-Type: text/plain\n\nbody\n--abc123--\n",
		want: "s\n\nbody",
	}, {
		name: "multipart without a Content-Type",
		mail: "From: a@b\nSubject: s\n\nThis is a MIME Message\n\n--XX\nContent-Type: text/html\n\n<b>bold</b> move\n--XX--\n",
		want: "s\n\nbold move",
	}, {
		name: "wrong boundary falls back to the raw body",
		mail: "From: a@b\nSubject: s\nContent-Type: multipart/alternative; boundary=nope\n\n<html><body>just <i>html</i></body></html>\n",
		want: "s\n\njust html",
	}, {
		name: "plain preferred, attachments ignored",
		mail: "From: a@b\nSubject: s\nContent-Type: multipart/mixed; boundary=M\n\n--M\nContent-Type: multipart/alternative; boundary=A\n\n" +
			"--A\nContent-Type: text/plain\n\nThe plain text of this message.\n--A\nContent-Type: text/html\n\n<p>The <b>HTML</b> text of this message.</p>\n--A--\n" +
			"--M\nContent-Type: text/plain; name=notes.txt\nContent-Disposition: attachment; filename=notes.txt\n\nattached notes\n" +
			"--M\nContent-Type: image/gif\nContent-Transfer-Encoding: base64\n\nR0lGODlhAQABAAAAACw=\n--M--\n",
		want: "s\n\nThe plain text of this message.",
	}, {
		name: "a plain stub loses to its HTML",
		mail: "From: a@b\nSubject: s\nContent-Type: multipart/alternative; boundary=A\n\n" +
			"--A\nContent-Type: text/plain\n\n***** This is an HTML Message ! *****\n--A\nContent-Type: text/html\n\n<p>" +
			strings.Repeat("The real offer is here. ", 10) + "</p>\n--A--\n",
		want: "s\n\n" + strings.TrimSpace(strings.Repeat("The real offer is here. ", 10)),
	}, {
		name: "forwarded message",
		mail: "From: a@b\nSubject: Fwd: hi\nContent-Type: multipart/mixed; boundary=M\n\n--M\nContent-Type: text/plain\n\nsee below\n" +
			"--M\nContent-Type: message/rfc822\n\nFrom: c@d\nSubject: hi\n\noriginal text\n--M--\n",
		want: "Fwd: hi\n\nsee below\n\nhi\n\noriginal text",
	}, {
		name: "script, style and comments dropped",
		mail: "From: a@b\nSubject: s\nContent-Type: text/html\n\n<style>p {color: red}</style><script>alert('x<y>')</script>" +
			"V<!-- x -->i<b></b>agra <a href=\"x>y\">now</a> &lt;3 &#233;\n",
		want: "s\n\nViagra now <3 é",
	}, {
		name: "binary part with NUL bytes",
		mail: "From: a@b\nSubject: s\nContent-Type: multipart/mixed; boundary=M\n\n--M\nContent-Type: application/octet-stream\n" +
			"Content-Transfer-Encoding: binary\n\n\x00\x01\x02\xff\n--M\nContent-Type: text/plain\n\nafter\n--M--\n",
		want: "s\n\nafter",
	}, {
		name: "no headers at all",
		mail: "Hello there,\nthis .eml is plain text.\n\nSecond paragraph.\n",
		want: "Hello there,\nthis .eml is plain text.\n\nSecond paragraph.",
	}, {
		name: "headers only",
		mail: "From: a@b\nSubject: only a subject\n",
		want: "only a subject",
	}, {
		name: "image only",
		mail: "From: a@b\nSubject:\nContent-Type: image/gif\nContent-Transfer-Encoding: base64\n\nR0lGODlhAQABAAAAACw=\n",
		want: "",
	}, {
		name: "mbox line and CRLF",
		mail: "From someone@example.com  Thu Aug 22 13:17:22 2002\r\nReturn-Path: <x@y>\r\nSubject: crlf\r\n\r\nline 1\r\nline 2\r\n",
		want: "crlf\n\nline 1\nline 2",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			res := parse(t, "x.eml", strings.NewReader(tc.mail), Options{})
			if res.err != nil {
				t.Fatal(res.err)
			}
			if tc.want == "" {
				checkRejects(t, res.rejects, []reject{{1, "no text"}})
				return
			}
			if len(res.items) != 1 || len(res.rejects) != 0 {
				t.Fatalf("got %+v", res)
			}
			if got := res.items[0].Text; got != tc.want {
				t.Errorf("text = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLooksLikeMail(t *testing.T) {
	for head, want := range map[string]bool{
		"From x@y  Thu Aug 22 2002\nReturn-Path: <x@y>\n\nbody": true,
		"X-Status: \nX-Keywords: \nReturn-Path: <x@y>\n\nbody":  true,
		"Subject: hi\n\nbody":                true,
		"Subject: hi\r\n folded\r\n\r\nbody": true,
		"Title: notes\nAuthor: me\n\nbody":   false, // no mail header
		"Subject: hi\nthen prose\n":          false,
		"\nSubject: hi\n":                    false,
		"Dear friend,\nSubject: hi\n\n":      false,
		"From here on, a story.\n\n":         false,
	} {
		if got := looksLikeMail([]byte(head)); got != want {
			t.Errorf("looksLikeMail(%q) = %v, want %v", head, got, want)
		}
	}
}
