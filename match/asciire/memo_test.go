package asciire_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/logjail/logjail/internal/f2bsample"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match/asciire"
)

// rememberPatterns are anchored expressions whose walks stop early on
// some texts and read to the end on others: a syslog header like
// sshd's prefregex's, runs at the text's end, lookahead by a run's next
// byte, word and line edges.
var rememberPatterns = []string{
	`^(?:(?:(?P<id>(?:\S+ )?sshd(?:-session|-auth)?\[\d+\]):|(?:\S+ )?(?:sshd:|\[sshd\]:?)) (?:\[ID \d+ [\w.]+\] )?)?(?:error: |fatal: )?`,
	`^(\S+) (\w+)(?:\[(\d+)\])?: `, `^a+$`, `^(a*)(b?)`, `^(.*) from (\S+)$`, `^\w+\b`, `(?m)^x$`,
	`^(?:ab|a)(?:bc|c)?`, `^(?:ab|a)$`, `^a(?m:$)`, `^[a-c]{1,3}?b`, `^$`, `^`,
	// Runs that may stretch (see stretch.go), beside others reading the
	// same bytes.
	`^\[(\d+)\] (\d+)x`, `^\[(\d+)(\d*)\]`, `^(\w+) (\d+)\]|^(\w+) 1`, `^\[(?:1|\d+)\]`, `^(\d+)\b`, `^\[\d{2,}\]`,
}

// rememberTexts are texts that begin alike: each of texts, cut after
// each byte and with a byte added, in turn.
func rememberTexts(texts []string) []string {
	var out []string
	for _, s := range texts {
		for n := range len(s) + 1 {
			out = append(out, s, s[:n], s[:n]+"b", s[:n]+" ")
		}
	}
	return out
}

// TestRememberAgrees runs Regexps that remember (Remember) over texts
// that begin alike, in turn, and compares each answer with Go's regexp:
// a remembered result serves only a text with the bytes its walk read.
func TestRememberAgrees(t *testing.T) {
	texts := []string{"web01 kernel: [1.2] x", "web01 sshd[12]: Failed", "web01 sshd[123]: error: x",
		"web01 sshd[4]: Failed", "web01 sshd[424242]: Failed", "web01 sshd[]: Failed", "web01 sshd[42a]: Failed",
		"web01 sshd[7]: error: x", "web01 sshd[12] Failed", "[12] 345x", "[1] 2x", "[123456] 7x", "[12]345x", "[1]", "[12]",
		"[123] 45]", "ab 12]", "ab 1", "ab 123]", "12 x", "1234x",
		"h sshd: y", "aaab", "abc", "x from 192.0.2.1", "x from 1 from 2", "ab\nx\n", "cab", ""}
	lines, err := f2bsample.AllLogLines()
	if len(lines) == 0 {
		testkit.Missing(t, "no fail2ban sample logs: %v", err)
	}
	for _, l := range lines[:min(len(lines), 300)] {
		if len(l) > 15 && asciire.IsASCII(l) {
			texts = append(texts, l[16:]) // after a syslog date
		}
	}
	texts = rememberTexts(texts)
	for _, p := range rememberPatterns {
		a, re := asciire.Compile(p), regexp.MustCompile(p)
		if a == nil {
			t.Fatalf("%s does not run", p)
		}
		a.Remember()
		for _, text := range texts {
			got, ok := a.Find(text)
			if want := re.FindStringSubmatchIndex(text); ok && !slices.Equal(got, want) {
				t.Fatalf("%s on %q, remembering: %v, regexp %v", p, text, got, want)
			}
		}
	}
}

// FuzzRemember: a Regexp that remembers, given two texts in turn, answers
// each as Go's regexp does.
func FuzzRemember(f *testing.F) {
	for _, p := range rememberPatterns {
		f.Add(p, "web01 sshd[12]: x", "web01 sshd[12]")
		f.Add(p, "aab", "aabb")
		f.Add(p, "web01 sshd[4242]: x", "web01 sshd[7]: y")
		f.Add(p, "[1] 23x", "[123] 4x")
		f.Add(p, "web01 sshd[12]: caf\xc3\xa9", "web01 su[\xc3\xa9]: x")
	}
	f.Fuzz(func(t *testing.T, pattern, text, text2 string) {
		if len(pattern) > 64 || len(text) > 256 || len(text2) > 256 {
			return
		}
		re, err := regexp.Compile(pattern)
		a := asciire.Compile(pattern)
		if err != nil || a == nil || !strings.HasPrefix(pattern, "^") {
			return
		}
		a.Remember()
		// Texts with other bytes go through FindPrefix (only the bytes
		// read need be ASCII), which remembers too.
		ascii := asciire.IsASCII(text + text2)
		for _, s := range []string{text, text2, text} {
			find := a.Find
			if !ascii {
				find = a.FindPrefix
			}
			got, ok := find(s)
			if want := re.FindStringSubmatchIndex(s); ok && !slices.Equal(got, want) {
				t.Fatalf("%q on %q after %q: Regexp %v, regexp %v", pattern, s, text, got, want)
			}
		}
	})
}

// A result remembered with a stretch (see stretch.go) serves a text whose
// stretch is longer or shorter only where nothing else read inside it,
// and only as long as the run's min: each pair's second text, after the
// first, gets Go's answer.
func TestStretchAgrees(t *testing.T) {
	const header = `^(?:(?:(?P<id>(?:\S+ )?sshd(?:-session|-auth)?\[\d+\]):|(?:\S+ )?(?:sshd:|\[sshd\]:?)) (?:\[ID \d+ [\w.]+\] )?)?(?:error: |fatal: )?`
	tests := []struct{ pattern, first, second string }{
		{header, "web01 sshd[4242]: Failed", "web01 sshd[7]: Failed"},
		{header, "web01 sshd[7]: Failed", "web01 sshd[4242424]: Failed"},
		{header, "web01 sshd[7]: Failed", "web01 sshd[]: Failed"},
		{header, "web01 sshd[7]: Failed", "web01 sshd[7a]: Failed"},
		{header, "web01 sshd[7]: error: x", "web01 sshd[77]: error: y"},
		{`^\[(?:(1)|(\d+))\]`, "[12]", "[1]"},
		{`^\[(?:(\d+)|(1))\]x`, "[12]y", "[1]x"},
		{`^\[\d{2,}\]`, "[1]", "[123456]"},
		{`^\[(\d{2,})\]`, "[123456]", "[1]"},
		{`^(\w+) (\d+)\]|^(\w+) 1`, "ab 12]", "ab 1"},
		{`^\[(\d+)\] (\d+)x`, "[12] 345x", "[1] 2x"},
		{`^\[(\d+)\] (\d+)x`, "[1] 2x", "[123] 45678x"},
		{`^(\d+)\b`, "12 x", "1234x"},
		{`^\[(\d+)\]x`, "[12]x", "[1]x"},
		{`^\[(\d+)()\]x`, "[1]x", "[123]x"},
		{`^\[(\d{1,3})\]`, "[12]", "[12345]"},
		{`^(\d+)(?:\.(\d+))?x`, "1.2x", "123.4567x"},
		// A span overlapped by another run's span that is not its
		// neighbour in from order (a shorter span lies between them)
		// must not stretch: the longer run reads it too, and with
		// another length (or bytes of the span's set outside its own)
		// ends elsewhere or fails its min. Here \w+ reads [0,6),
		// [a-z]+ [1,2), [\d-]+ [3,6).
		{`^(?:\w+-|.[a-z]+#|...[\d-]+\])`, "xa1234]", "xa12-]"},
		{`^(?:.[a-z]+#|...\d+#|\w{6,}\])`, "xa1234]", "xa12]"},
	}
	for _, tt := range tests {
		a := asciire.Compile(tt.pattern)
		a.Remember()
		a.Find(tt.first)
		got, ok := a.Find(tt.second)
		if want := regexp.MustCompile(tt.pattern).FindStringSubmatchIndex(tt.second); ok && !slices.Equal(got, want) {
			t.Errorf("%s on %q after %q: %v, regexp %v", tt.pattern, tt.second, tt.first, got, want)
		}
	}
}
