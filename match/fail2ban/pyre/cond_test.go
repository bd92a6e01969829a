package pyre

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// condCases: patterns with conditionals and their rewrite ("" when the
// rewrite must give up); every capturing group is renamed per copy.
var condCases = []struct{ pattern, want string }{
	{`^(?P<c>a)?(?(c)b|d)$`, `^(?:(?P<c__pyre0>a)(?:b)|(?:d))$`},
	{`^(?P<c>a)??(?(c)b|d)$`, `^(?:(?:d)|(?P<c__pyre0>a)(?:b))$`},
	{`(a)?x(?(1)b)`, `(?:(?P<__pyre1_0>a)x(?:b)|x(?:))`},
	{`(?:(x)|y)z(?(1)1|2)`, `(?:(?:(?P<__pyre1_0>x))z(?:1)|(?:y)z(?:2))`},
	// A group holding the choice is copied into each branch.
	{`(?P<n>(?P<c>\w+)|[^:]+) (?(c)x|y)`, `(?:(?P<n__pyre0>(?P<c__pyre1>\w+)) (?:x)|(?P<n__pyre2>[^:]+) (?:y))`},
	// Choice-free text before the choice is copied too.
	{`(?:ab(c)?)(?(1)d|e)`, `(?:(?:ab(?P<__pyre1_0>c))(?:d)|(?:ab)(?:e))`},
	// Several conditionals on one group, and on two groups.
	{`(a)?(?(1)b)(?(1)c)`, `(?:(?:(?P<__pyre1_0>a)(?:b))(?:c)|(?:(?:))(?:))`},
	{`(a)?(b)?(?(1)c)(?(2)d|e)`, `(?:(?:(?P<__pyre1_0>a)(?P<__pyre2_1>b)(?:c))(?:d)|(?:(?P<__pyre1_2>a)(?:c))(?:e)|(?:(?P<__pyre2_3>b)(?:))(?:d)|(?:(?:))(?:e))`},
	// Conditionals inside a repetition, after the group: g is settled.
	{`^(a)?(?:(?(1)b|c))+$`, `^(?:(?P<__pyre1_0>a)(?:(?:b))+|(?:(?:c))+)$`},
	// Comments go; other groups keep their kind.
	{`(?#x)(a)?(?i:b)(?(1)c)`, `(?:(?P<__pyre1_0>a)(?i:b)(?:c)|(?i:b)(?:))`},

	// Given up: g in a repetition (which iteration set it?).
	{`((a)|b)+(?(2)c|d)`, ``},
	{`(a)*(?(1)b|c)`, ``},
	// A choice before the group inside a copied sequence would change
	// the order in which the engine tries the alternatives.
	{`(?:x*(a)?)(?(1)b|c)`, ``},
	{`(?:x|y)?(?:z(a)|w)(?(1)b|c)`, `(?:x|y)?(?:(?:z(?P<__pyre1_0>a))(?:b)|(?:w)(?:c))`},
	// In a look-around, in another branch, before the group, or with
	// back-references.
	{`(?=(a))?(?(1)b|c)`, ``},
	{`(?:(a)|(?(1)b|c))`, ``},
	{`(a)(?(1)b)\1`, ``},
	{`(?P<g>a)?(?P=g)(?(g)b)`, ``},
	{`(a)`, ``},
	{`(__pyre)?(?(1)b)`, ``},
}

func TestRewriteConditionals(t *testing.T) {
	for _, c := range condCases {
		got, _, ok := rewriteForRE2(c.pattern)
		if !ok {
			got = ""
		}
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.pattern, got, c.want)
		}
		if ok {
			if _, err := regexp.Compile(got); err != nil {
				t.Errorf("%s: RE2 refuses %s: %v", c.pattern, got, err)
			}
		}
	}
}

// TestRewrittenGroupsFold: the copies of a group report as the Python
// group, with the Python numbers and names.
func TestRewrittenGroupsFold(t *testing.T) {
	re := MustCompile(`^(?P<n>(?P<c>\w+)|[^:]+) (?(c)x|y)$`, Options{})
	if re.Engine() != EngineRE2 {
		t.Fatalf("engine %s (%s)", re.Engine(), re.Why())
	}
	if got := re.SubexpNames(); len(got) != 3 || got[1] != "n" || got[2] != "c" {
		t.Fatalf("names %q", got)
	}
	for _, c := range []struct {
		text string
		want []int
	}{
		{"ab x", []int{0, 4, 0, 2, 0, 2}},
		{"a b y", []int{0, 5, 0, 3, -1, -1}},
		{"ab y", []int{0, 4, 0, 2, -1, -1}},
	} {
		loc, err := re.FindStringSubmatchIndex(c.text)
		if err != nil || len(loc) != len(c.want) {
			t.Fatalf("%q: %v %v", c.text, loc, err)
		}
		for i := range loc {
			if loc[i] != c.want[i] {
				t.Errorf("%q: %v, want %v", c.text, loc, c.want)
				break
			}
		}
	}
}

// rewriteVsBacktrack: patterns the rewrite puts on RE2, each checked
// against the backtracking engine on every text over a small alphabet
// (texts from a fixed seed, at most one newline, at the end, as Options
// promises) and on the texts given — the same match and the same groups.
var rewriteVsBacktrack = []struct {
	pattern, alphabet string
	texts             []string // besides the random ones
}{
	{`^a(?P<u>(?:(?! from ).)*?) from (?P<h>\w+)`, " fromxa", []string{"a x from from h", "a from  from h", "ax fro from h"}},
	{`^a(?P<u>(?:(?! from ).)*) from (?P<h>\w+)$`, " fromxa", []string{"a x from from h", "ax from h\n"}},
	{`^a(?:(?:(?!ab).)*)$`, "abx", nil},
	{`x(?:(?!aa).)*?aa(a)?`, "axb", []string{"xaaa", "xbaaa"}},
	{`^(?P<i>i )?(?P<u>(?P<c>\S+)|(?(i)(?:(?! f ).)*?|[^:]+)) f (?P<h>\w+)(?(c): |(?:(?:(?! f ).)*)$)`, "i f:xa", []string{"i x f f h", "x f a: "}},
	{`^(a)?(b)?(?(1)c)(?(2)d|e)`, "abcde", nil},
	{`(?:(x)|y)+?z(?:(?!zz).)*$`, "xyz", nil},
}

func TestRewriteAgreesWithBacktracking(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range rewriteVsBacktrack {
		re2 := MustCompile(c.pattern, Options{})
		// The oracle's timeout is generous: this test is about agreement,
		// and a loaded machine can pause a goroutine past DefaultTimeout.
		bt := MustCompile(c.pattern, Options{Backtrack: true, Timeout: time.Minute})
		if strings.Contains(c.pattern, "(?(") || strings.Contains(c.pattern, "*?) from") {
			if re2.Engine() != EngineRE2 {
				t.Errorf("%s: engine %s (%s)", c.pattern, re2.Engine(), re2.Why())
			}
		}
		for n := range 3000 {
			text := randomText(rng, c.alphabet)
			if n < len(c.texts) {
				text = c.texts[n]
			}
			got, err1 := re2.FindStringSubmatchIndex(text)
			want, err2 := bt.FindStringSubmatchIndex(text)
			if err1 != nil || err2 != nil || !slices.Equal(got, want) {
				t.Fatalf("%s on %q: %v, backtracking %v (%s)", c.pattern, text, got, want, re2)
			}
		}
	}
}

// randomText returns up to 14 characters of alphabet, maybe after an
// "a", maybe with the one newline a text may hold, at its end.
func randomText(rng *rand.Rand, alphabet string) string {
	b := make([]byte, rng.IntN(14))
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	text := string(b)
	if rng.IntN(2) == 0 {
		text = "a" + text
	}
	if rng.IntN(3) == 0 {
		text += "\n"
	}
	return text
}
