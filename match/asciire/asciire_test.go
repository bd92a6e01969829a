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

// asciiShapes: patterns and whether Regexp runs them, each
// mismatch of Go's regexp it might have made refused.
var asciiShapes = []struct {
	pattern string
	runs    bool
}{
	{`^a.*b$`, true},
	{`^Failed (?:password|publickey) for (?P<u>.*) from (?P<h>\S+) port \d+(?: ssh\d?)?$`, true},
	{`(?i)failed for`, true},
	{`(a|ab)(c|bcd)(d*)`, true},
	{`x{2,5}?y`, true},
	{`^(?:a+)+$`, true},
	{`^(a*)+$`, false},           // a loop whose body can match nothing
	{`^(?:a?b?)*c$`, false},      // the same
	{`(?:\b)+x`, false},          // the same: a word edge consumes nothing
	{`\bword\b`, true},           // word edges
	{`(?m)^line$`, true},         // line anchors
	{"caf\u00e9", false},         // a rune that is not ASCII
	{"(?i)\u212a", true},         // a class of K, k and the Kelvin sign
	{`[^a]\p{Greek}`, true},      // classes hold non-ASCII runes, not ASCII text
	{`[^\x00-\x{10FFFF}]`, true}, // an empty class
}

func TestASCIIShapes(t *testing.T) {
	for _, tc := range asciiShapes {
		if got := asciire.Compile(tc.pattern) != nil; got != tc.runs {
			t.Errorf("Compile(%q) runs %v, want %v", tc.pattern, got, tc.runs)
		}
	}
}

// asciiPatterns are expressions made to find where Regexp and Go's
// regexp could part: the order of alternatives and of greedy and lazy
// repeats, groups in loops, case folding, anchors, unanchored search.
var asciiPatterns = []string{
	`(a|ab)(c|bcd)(d*)`, `(a+)(b+)?`, `(a+?)(b*?)c`, `^(?:(a)|b)*$`, `(?:(a)|(b))+`, `x(y?)(y?)z`,
	`(?i)Failed (P)assword`, `[A-Fa-f:]{1,4}`, `\d{1,3}(?:\.\d{1,3}){3}`, `(?s:.)+b`, `^(.*)(.*)$`,
	`^(.*?)(a|b)(.*)$`, `(?:ab|a)(?:bc|c)`, `a{2,3}?b`, `^$`, `$`, `^`, `(?:)`, `(a)|(b)`, `[^ab]+`,
	`^(?:a+)+$`, `((a)(b)?)+`, `(?U)a+b`, `\s+(\S+)\s*$`, `(?:\[(\d+)\])?:`, `a.*?b.*c`,
	`\b\w+\b`, `\B\w\B`, `(?:^|\b|\W)(\w+) (\d)`, `(?m)^(\w*)$`, `(?m)(.+)$\n?`, `(?m:^)|x`, `(?i)\bjan\b|(?i:feb)`,
	`(?:\W{0,2})?(?i:(mon|tue) )?(\d+)(?:\b|\W|\z)`, `\Bb+|a\b`, `(?m)\n^`, `x*\b`, `[^\n]*$`,
	// Runs whose follower shares no byte with them (only the longest
	// length is tried), some followed by nothing at the text's end.
	`(\d+)$`, `(\d{1,2})(?: (\w))?$`, `(\S+) ?$`, `[ab]{2,3}(c|$)`, `(\d+?)\]`, `port (\d+)(?: ssh\d?)?(?: \[x\])?$`,
	`(a*)(?:b|\z)`, `(\w+)\b(?:$|\.)`,
}

// TestASCIIAgrees compares Regexp with Go's regexp, groups and all, for
// the patterns above over testkit's ASCIITexts and fail2ban's sample
// logs (each line whole and from each blank on). The fail2ban dialect's
// converted programs are compared in match/fail2ban/pyre and matcher,
// logjail's own filters' in match/native.
func TestASCIIAgrees(t *testing.T) {
	patterns := slices.Clone(asciiPatterns)
	for _, tc := range asciiShapes {
		patterns = append(patterns, tc.pattern)
	}
	texts := slices.Clone(testkit.ASCIITexts)
	lines, err := f2bsample.AllLogLines()
	if len(lines) == 0 {
		testkit.Missing(t, "no fail2ban sample logs: %v", err)
	}
	n := min(len(lines), 4_000)
	if testing.Short() || raceEnabled {
		n = min(n, 500)
	}
	for _, l := range lines[:n] {
		for i := 0; i >= 0; i = nextBlank(l, i) {
			texts = append(texts, l[i:])
		}
	}
	if runs := testkit.ASCIIAgrees(t, patterns, texts); runs < len(patterns)*3/4 {
		t.Errorf("only %d of %d patterns run", runs, len(patterns))
	}
}

// An expression that backtracks without end gives up within its budget.
func TestASCIIBudget(t *testing.T) {
	a := asciire.Compile(`^(?:a+b?)+$`)
	text := strings.Repeat("a", 30) + "c"
	if _, ok := a.Find(text); ok {
		t.Fatalf("(a+b?)+ on %q: decided within its budget", text)
	}
	if loc, ok := a.Find("aaba"); !ok || !slices.Equal(loc, []int{0, 4}) {
		t.Errorf("(a+b?)+ on aaba: %v %v", loc, ok)
	}
}

// The bytes a match may start with: every byte a match starts with is
// in the set (TestASCIIAgrees would see a match missed), and the set is
// known where a match must consume a byte first.
func TestFirstBytes(t *testing.T) {
	tests := []struct {
		pattern string
		bytes   string // "": any
		atEnd   bool   // a match may also consume nothing at the text's end
	}{
		{`(?i)jan|feb`, "JjFf", false},
		{`\b(?:x|y?z)`, "xyz", false},
		{`(a*)b`, "ab", false},
		{`a*`, "", false},
		{`x|$`, "x", true},
		{`\d+(?: ssh\d?)?(?: \[preauth\])?$`, "0123456789", false},
		{`(?: port \d+)?$`, " ", true},
		{`\b$|y`, "y", true},
		{`(?m)^$`, "", false},
	}
	for _, tt := range tests {
		a := asciire.Compile(tt.pattern)
		var want [2]uint64
		for i := range len(tt.bytes) {
			c := tt.bytes[i]
			want[c/64] |= 1 << (c % 64)
		}
		first, any, atEnd := a.FirstBytes()
		if any != (tt.bytes == "") || !any && (first != want || atEnd != tt.atEnd) {
			t.Errorf("%s: first %x any %v at end %v, want %q at end %v", tt.pattern, first, any, atEnd, tt.bytes, tt.atEnd)
		}
	}
}

// FindPrefix answers for a text with other bytes than ASCII where the
// walk did not read them, and gives up (false) where it did.
func TestFindPrefix(t *testing.T) {
	const header = `^(?:(\S+ )?sshd\[(\d+)\]: )?`
	tests := []struct {
		pattern, text string
		ok            bool
	}{
		{header, "web01 kernel: caf\xc3\xa9", true},
		{header, "web01 sshd[12]: r\xc3\xb6ot", true},
		{header, "w\xc3\xa9b01 sshd[12]: x", false},
		{`^x.*y$`, "x\xc3\xa9y", false},
		{`^x.*y$`, "xzy", true},
	}
	for _, tt := range tests {
		a := asciire.Compile(tt.pattern)
		a.Remember()
		for range 2 { // walked, then remembered
			got, ok := a.FindPrefix(tt.text)
			if ok != tt.ok {
				t.Fatalf("%q on %q: ok %v, want %v", tt.pattern, tt.text, ok, tt.ok)
			}
			if want := regexp.MustCompile(tt.pattern).FindStringSubmatchIndex(tt.text); ok && !slices.Equal(got, want) {
				t.Errorf("%q on %q: %v, regexp %v", tt.pattern, tt.text, got, want)
			}
		}
	}
}

func nextBlank(l string, i int) int {
	j := strings.IndexByte(l[i:], ' ')
	if j < 0 {
		return -1
	}
	return i + j + 1
}

// Texts too long to remember each place of (maxMemoBits) are walked
// without the memory; the answers are still Go's.
func TestASCIILongText(t *testing.T) {
	texts := []string{strings.Repeat("ab ", 40_000), strings.Repeat("a", 70_000) + "bcd", strings.Repeat("x ", 50_000) + "Failed password for root from 192.0.2.1 port 22 ssh2"}
	patterns := append(slices.Clone(asciiPatterns), `^(?:(?:\w+ ){1,3}|x)+Failed (?:password|publickey) for (\S+) from (\S+)`)
	testkit.ASCIIAgrees(t, patterns, texts)
}

// IsASCII reads 16 and 8 bytes at once: a byte of 128 or more is found
// wherever it is, in texts of every length around those.
func TestIsASCII(t *testing.T) {
	for n := range 41 {
		text := []byte(strings.Repeat("a\x7f", n)[:n])
		if !asciire.IsASCII(string(text)) {
			t.Errorf("%q: not ASCII", text)
		}
		for i := range n {
			for _, c := range []byte{0x80, 0xff} {
				bad := slices.Clone(text)
				bad[i] = c
				if asciire.IsASCII(string(bad)) {
					t.Errorf("%q: ASCII", bad)
				}
			}
		}
	}
}

// A greedy run followed by one byte tries the lengths at which that byte
// comes next, longest first (runBack): each is tried, the one just before
// a failed one too, and none past the text or under the run's minimum.
func TestRunBack(t *testing.T) {
	for _, c := range []struct{ pattern, text string }{
		{`^(a*)aab`, "aaab"}, {`^(a*)aab`, "aaaab"}, {`^(a+)ab`, "aab"}, {`^(a{2,})ab`, "aab"},
		{`^(.*) from (\S+)$`, "x from y from z"}, {`^(.*) from (\S+)$`, "x from y from "},
		{`^(\S*) `, "abc"}, {`^(.*)x`, ""}, {`^(.*)x`, "x"}, {`^(.*)(x|y)`, "axbxc"}, {`(a*)b`, "caab"},
	} {
		re := regexp.MustCompile(c.pattern)
		got, ok := asciire.Compile(c.pattern).Find(c.text)
		if want := re.FindStringSubmatchIndex(c.text); !ok || !slices.Equal(got, want) {
			t.Errorf("%s on %q: %v %v, regexp %v", c.pattern, c.text, got, ok, want)
		}
	}
}
