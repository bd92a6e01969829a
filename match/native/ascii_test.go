package native

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// asciiShapes: patterns and whether asciiRegex runs them, each
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
	{`\bword\b`, false},          // word boundaries
	{`(?m)^line$`, false},        // line anchors
	{"caf\u00e9", false},         // a rune that is not ASCII
	{"(?i)\u212a", true},         // a class of K, k and the Kelvin sign
	{`[^a]\p{Greek}`, true},      // classes hold non-ASCII runes, not ASCII text
	{`[^\x00-\x{10FFFF}]`, true}, // an empty class
}

func TestASCIIShapes(t *testing.T) {
	for _, tc := range asciiShapes {
		if got := newASCII(tc.pattern) != nil; got != tc.runs {
			t.Errorf("newASCII(%q) runs %v, want %v", tc.pattern, got, tc.runs)
		}
	}
}

// asciiPatterns are expressions made to find where asciiRegex and Go's
// regexp could part: the order of alternatives and of greedy and lazy
// repeats, groups in loops, case folding, anchors, unanchored search.
var asciiPatterns = []string{
	`(a|ab)(c|bcd)(d*)`, `(a+)(b+)?`, `(a+?)(b*?)c`, `^(?:(a)|b)*$`, `(?:(a)|(b))+`, `x(y?)(y?)z`,
	`(?i)Failed (P)assword`, `[A-Fa-f:]{1,4}`, `\d{1,3}(?:\.\d{1,3}){3}`, `(?s:.)+b`, `^(.*)(.*)$`,
	`^(.*?)(a|b)(.*)$`, `(?:ab|a)(?:bc|c)`, `a{2,3}?b`, `^$`, `$`, `^`, `(?:)`, `(a)|(b)`, `[^ab]+`,
	`^(?:a+)+$`, `((a)(b)?)+`, `(?U)a+b`, `\s+(\S+)\s*$`, `(?:\[(\d+)\])?:`, `a.*?b.*c`,
}

// asciiTexts are lines to match them on: literal repeats, newlines, bytes
// that are not UTF-8 (which asciiRegex leaves alone), long runs.
var asciiTexts = []string{
	"", "a", "ab", "abc", "abcd", "abcdd", "aabbcc", "ab\nb", "a\nb", "abbc", "xyz", "xyyz", "xz", "ba",
	"aaab", "aaaaab", "FAILED password", "failed Password", "dead:beef", "1.2.3.4", "1.2.3.4.5", "999.1.1.1",
	"ax\xffb", "a\xff from \xfe", strings.Repeat("a", 40) + "!", "[12]:", "[x]:", " x y ", "\t\tword",
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

// TestASCIIAgrees compares asciiRegex with Go's regexp, groups and all,
// for the patterns above, every failregex and prefregex of the shipped
// filters, over the texts above and fail2ban's sample logs (each line
// whole and after each blank, as a failregex sees the content after a
// prefregex). A pattern asciiRegex refuses, a text that is not ASCII, a
// walk over budget: Go's regexp runs, so there is nothing to compare.
func TestASCIIAgrees(t *testing.T) {
	patterns := append(shippedPatterns(t), asciiPatterns...)
	for _, tc := range asciiShapes {
		patterns = append(patterns, tc.pattern)
	}
	texts := slices.Clone(asciiTexts)
	n := 20_000
	if testing.Short() || raceEnabled {
		n = 2_000
	}
	for _, l := range sampleLines(t)[:n] {
		for i := 0; i >= 0; i = nextBlank(l, i) {
			texts = append(texts, l[i:])
		}
	}
	runs, compared := 0, 0
	for _, p := range patterns {
		a := newASCII(p)
		if a == nil {
			continue
		}
		runs++
		re := regexp.MustCompile(p)
		for _, text := range texts {
			if !isASCII(text) {
				continue
			}
			got, ok := a.find(text)
			if want := re.FindStringSubmatchIndex(text); ok && !slices.Equal(got, want) {
				t.Fatalf("%s on %q: asciiRegex %v, regexp %v", p, text, got, want)
			}
			compared++
		}
	}
	t.Logf("%d of %d patterns run, %d texts compared", runs, len(patterns), compared)
	if runs < len(patterns)*3/4 {
		t.Errorf("only %d of %d patterns run", runs, len(patterns))
	}
}

// An expression that backtracks without end gives up within its budget.
func TestASCIIBudget(t *testing.T) {
	a := newASCII(`^(?:a+b?)+$`)
	text := strings.Repeat("a", 30) + "c"
	if _, ok := a.find(text); ok {
		t.Fatalf("(a+b?)+ on %q: decided within its budget", text)
	}
	if loc, ok := a.find("aaba"); !ok || !slices.Equal(loc, []int{0, 4}) {
		t.Errorf("(a+b?)+ on aaba: %v %v", loc, ok)
	}
}

func nextBlank(l string, i int) int {
	j := strings.IndexByte(l[i:], ' ')
	if j < 0 {
		return -1
	}
	return i + j + 1
}

// shippedPatterns are the expanded failregexes of every shipped filter,
// its modes' included, and their prefregexes.
func shippedPatterns(t *testing.T) []string {
	files, _ := os.ReadDir("../../pipelines/filters")
	var out []string
	for _, file := range files {
		var f shippedFilter
		b, err := os.ReadFile("../../pipelines/filters/" + file.Name())
		if err == nil {
			err = yaml.Unmarshal(b, &f)
		}
		if err != nil {
			t.Fatal(err)
		}
		all := append([]string{f.Prefregex}, f.Failregex...)
		for _, mode := range f.Modes {
			all = append(all, mode...)
		}
		for _, s := range all {
			p, _, err := expandTags(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
			if head := headOf(p); head != nil {
				out = append(out, head.String())
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no shipped filters")
	}
	return out
}
