package native

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// splitShapes: patterns and whether they run split (see splitRegex).
var splitShapes = []struct {
	pattern string
	split   bool
}{
	{`^a.*b$`, true},
	{`^a(?P<u>.*) from (?P<h>\S+)$`, true},
	{`^(?s:.*)x$`, true},
	{`^a.*$`, false},        // nothing after the .*
	{`a.*b$`, false},        // not anchored at the start
	{`^a.*b`, false},        // not anchored at the end
	{`^a.*?b$`, false},      // not greedy
	{`^a\b.*b$`, false},     // an assertion in the head
	{`^a.*b\b c$`, false},   // an assertion in the tail
	{`^a.*(?:b|c)$`, false}, // the tail starts with no literal
	{`^a.*(?i:b)$`, false},  // nor with a case-folded one
	{"^a.*\uFFFDb$", false}, // nor with U+FFFD, which matches any invalid byte
	{`^a.*b.*c$`, true},     // the first .* splits
	{`^a(?:x.*)b$`, true},   // a group that captures nothing is no group
	{`^a(x.*)b$`, false},    // a .* inside a group does not split
	{`^(a.*b)$`, false},     // nor in a group around everything
	{`^(a|ab).*bc$`, true},  // the head's ways are tried in order
	{`^(a)?(?P<s>.*)b(c)?$`, true},
}

func TestSplitShapes(t *testing.T) {
	for _, tc := range splitShapes {
		if got := newSplit(tc.pattern) != nil; got != tc.split {
			t.Errorf("newSplit(%q) split %v, want %v", tc.pattern, got, tc.split)
		}
	}
}

// splitTexts are lines made to find where a split run and the whole
// regexp could part: the tail's literal in the user name, more than
// maxTails times, at the very start, overlapping itself; newlines; bytes
// that are not UTF-8.
var splitTexts = []string{
	"", "ab", "abc", "aabbcc", "ab\nb", "a\nb", "abbc", "abc bc", "abbcbcbc",
	"a x from 1.2.3.4", "a x from 1.2.3.4 from 5.6.7.8", "a from from  from x", "a  from x y",
	"xxxxxxxxx", "ax\xffb", "a\xff from \xfe", "abbbbbbbbbbbbc", "ab\nbc", "a" + strings.Repeat("b", 20) + "c",
	"Failed password for root from 192.0.2.1 port 22 ssh2",
	"Failed password for invalid user x from 192.0.2.1 port 22 ssh2",
	"Failed password for invalid user  from 192.0.2.1 port 22",
	"Failed password for x from 192.0.2.9 port 22 ssh2 from 192.0.2.1 port 22 ssh2",
	"Failed password for x from 1.1.1.1 port 1 from 2.2.2.2 port 2 from 3.3.3.3 port 3 from 4.4.4.4 port 4 from 5.5.5.5 port 5 from 6.6.6.6 x",
	"Failed password for x from 1.1.1.1 port 1 from 2.2.2.2 port 2 from 3.3.3.3 port 3 from 4.4.4.4 port 4 from 5.5.5.5 port 5 from 6.6.6.6 port 6",
	"Failed password for from 192.0.2.1 port 22",
	"Failed keyboard-interactive for invalid user invalid user  from [2001:db8::1] port 22 [preauth]",
	"Failed password for x\nfrom 192.0.2.1 port 22",
	"Invalid user a from b from 192.0.2.1 port 7 [preauth]",
	"Received disconnect from 192.0.2.1 port 3: 3: x: Auth fail: Auth fail [preauth]",
	"Received disconnect from 192.0.2.1: 3: : Auth fail",
	"Bad protocol version identification 'x from 1.2.3.4' from 192.0.2.1 port 2",
	"User a from 192.0.2.1 not allowed because x from 192.0.2.2 not allowed because none",
}

// TestSplitAgrees compares split runs with the whole regexp, groups and
// all, for the shapes above and every failregex of the shipped filters
// that splits, over the texts above and fail2ban's sample logs (each line
// whole and after each blank, so a failregex sees the content it would
// after a prefregex too).
func TestSplitAgrees(t *testing.T) {
	patterns := shippedFailregexes(t)
	for _, tc := range splitShapes {
		patterns = append(patterns, tc.pattern)
	}
	texts := slices.Clone(splitTexts)
	for _, l := range sampleLines(t)[:20_000] {
		for i := 0; i >= 0; i = nextBlank(l, i) {
			texts = append(texts, l[i:])
		}
	}
	split := 0
	for _, p := range patterns {
		s := newSplit(p)
		if s == nil {
			continue
		}
		split++
		re := regexp.MustCompile(p)
		for _, text := range texts {
			got, ok := s.find(text)
			if want := re.FindStringSubmatchIndex(text); ok && !slices.Equal(got, want) {
				t.Fatalf("%s on %q: split %v, whole %v", p, text, got, want)
			}
		}
	}
	t.Logf("%d of %d patterns split", split, len(patterns))
	if split < 10 {
		t.Errorf("only %d patterns split", split)
	}
}

func nextBlank(l string, i int) int {
	j := strings.IndexByte(l[i:], ' ')
	if j < 0 {
		return -1
	}
	return i + j + 1
}

// shippedFailregexes are the expanded failregexes of every shipped filter,
// its modes' included.
func shippedFailregexes(t *testing.T) []string {
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
		all := f.Failregex
		for _, mode := range f.Modes {
			all = append(all, mode...)
		}
		for _, s := range all {
			p, _, err := expandTags(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Fatal("no shipped filters")
	}
	return out
}
