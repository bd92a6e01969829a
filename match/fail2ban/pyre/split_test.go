package pyre

import (
	"slices"
	"strings"
	"testing"
)

// big makes a branch too large for Go's backtracker with the others.
const big = `\d{0,120}`

func TestSplitPaths(t *testing.T) {
	tests := []struct {
		name, pattern string
		split         bool
		texts         []string
	}{
		{"a choice before, each way forced", `^Failed (?:(?P<pk>publickey)|\S+) for (?:(?P<inv>invalid user )(?P<u>\S+) from (?P<h>\S+)` + big + `: |(?P<u2>[^:]+) from (?P<h2>\S+)` + big + `$)`,
			true, []string{"Failed publickey for invalid user a from h: ", "Failed password for a b c from h", "Failed publickey for x from h",
				"Failed password for invalid user x from h", "Failed none for invalid user a from h: x", "Failed  for a from h"}},
		{"a repetition that may stop anywhere", `^\w+\w+ (?:(?P<a>a)` + big + `x|(?P<b>a)` + big + `y)`,
			false, []string{"ab a1x", "ab ay"}},
		{"small enough whole", `^a (?:b|c)`, false, []string{"a b"}},
		{"not anchored", `x (?:(?P<a>a)` + big + big + `|(?P<b>b)` + big + big + `)`, false, []string{"x a1"}},
		{"a group around the alternation", `^(?P<g>(?P<a>a)` + big + `x|(?P<b>a\d*)` + big + `y) (?P<c>\w+)`,
			true, []string{"a12x z", "a12y z", "a x z", "a1y  z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustCompile(tt.pattern, Options{})
			if r.Split() != tt.split {
				t.Fatalf("split %v, want %v", r.Split(), tt.split)
			}
			whole := r.Whole()
			paths := *r // the paths alone, ASCII text too
			paths.asc = nil
			for _, text := range tt.texts {
				for _, s := range []string{text, text + "\n", strings.ToUpper(text), text + " é"} {
					want, _ := whole.FindStringSubmatchIndex(s)
					for _, r := range []*Regexp{r, &paths} {
						got, _ := r.FindStringSubmatchIndex(s)
						ok, _ := r.MatchString(s)
						if !slices.Equal(got, want) || ok != (want != nil) {
							t.Errorf("%q: %v (match %v), whole %v", s, got, ok, want)
						}
					}
				}
			}
		})
	}
}

func TestSearchBound(t *testing.T) {
	tests := []struct {
		expr string
		want int
	}{
		{`^abc`, 3 + 4},
		{`^a\d{1,3}(?:x|yz)?`, 1 + 3 + 2 + 4},
		{`^a+`, -1},
		{`abc`, -1},
		{`^(?i)k`, 3 + 4}, // K folds to the three-byte Kelvin sign
		{`^.\b`, 4 + 4},
	}
	for _, tt := range tests {
		if got := searchBound(tt.expr); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.expr, got, tt.want)
		}
	}
}

// A text cut at the bound gives the match of the whole text.
func TestSearchBoundKeepsMatches(t *testing.T) {
	patterns := []string{
		`^(?:\W{0,2})?(?P<b>jan|feb) (?P<d>\d{1,2})(?: (?P<y>20\d\d))?(?:\b|\W|\Z)`,
		`(?i)^(?P<b>jan|feb) (?P<d>\d{1,2})$`,
		`^\d{2}\b`,
	}
	texts := []string{"Jan 12 2021 x", "feb 1 20211", "jan 12", "jan 12\n", "12é", "12 ", "--feb 3 2020" + strings.Repeat("x", 100), "Feb 12"}
	for _, p := range patterns {
		r := MustCompile(p, Options{})
		if r.bound < 0 {
			t.Fatalf("%s: no bound", p)
		}
		for _, s := range texts {
			re := r.pick(isASCII(s))
			if re == nil {
				continue // \b on non-ASCII text: the backtracking engine
			}
			got, _ := r.FindStringSubmatchIndex(s)
			want := r.unfold(re.FindStringSubmatchIndex(s))
			if !slices.Equal(got, want) {
				t.Errorf("%s on %q: %v, whole text %v", p, s, got, want)
			}
		}
	}
}
