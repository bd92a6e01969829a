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
