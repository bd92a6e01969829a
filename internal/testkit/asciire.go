package testkit

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/logjail/logjail/match/asciire"
)

// ASCIITexts are lines made to find where match/asciire and Go's regexp
// could part: literal repeats, newlines, word edges, bytes that are not
// UTF-8 (which asciire leaves to Go's regexp), long runs, sshd's lines.
var ASCIITexts = []string{
	"", "a", "ab", "abc", "abcd", "abcdd", "aabbcc", "ab\nb", "a\nb", "abbc", "xyz", "xyyz", "xz", "ba",
	"aaab", "aaaaab", "FAILED password", "failed Password", "dead:beef", "1.2.3.4", "1.2.3.4.5", "999.1.1.1",
	"ax\xffb", "a\xff from \xfe", strings.Repeat("a", 40) + "!", "[12]:", "[x]:", " x y ", "\t\tword",
	"a word\nline two\n", "\nline\n", "_w0rd-x y_", "Jan 12 10:00:01", "--Jan 2 2020 x", "Mon Jan  2 03:04:05 2006",
	"Failed password for root from 192.0.2.1 port 22 ssh2",
	"Failed password for invalid user x from 192.0.2.1 port 22 ssh2",
	"Failed password for x from 192.0.2.9 port 22 ssh2 from 192.0.2.1 port 22 ssh2",
	"Failed password for x\nfrom 192.0.2.1 port 22",
	"Invalid user a from b from 192.0.2.1 port 7 [preauth]",
	"Received disconnect from 192.0.2.1 port 3: 3: x: Auth fail: Auth fail [preauth]",
	"User a from 192.0.2.1 not allowed because x from 192.0.2.2 not allowed because none",
	"web01 sshd[35116]: error: PAM: Authentication failure for root from 192.0.2.1",
	"[sshd] [ID 800047 auth.info] Failed password for x from 1.2.3.4 port 2 ssh2",
}

// ASCIIAgrees compares asciire with Go's regexp, match and groups, for
// every pattern asciire takes over every ASCII text (a text that is not
// ASCII, or a search over its step budget, runs Go's regexp: nothing to
// compare). It returns how many patterns asciire took.
func ASCIIAgrees(t testing.TB, patterns, texts []string) (runs int) {
	t.Helper()
	compared := 0
	for _, p := range patterns {
		a := asciire.Compile(p)
		if a == nil {
			continue
		}
		runs++
		re := regexp.MustCompile(p)
		for _, text := range texts {
			if !asciire.IsASCII(text) {
				continue
			}
			got, ok := a.Find(text)
			if want := re.FindStringSubmatchIndex(text); ok && !slices.Equal(got, want) {
				t.Fatalf("%s on %q: asciire %v, regexp %v", p, text, got, want)
			}
			compared++
		}
	}
	t.Logf("%d of %d patterns run, %d texts compared", runs, len(patterns), compared)
	return runs
}
