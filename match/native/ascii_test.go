package native

import (
	"slices"
	"strings"
	"testing"

	"github.com/logjail/logjail/internal/testkit"
)

// TestASCIIAgrees compares match/asciire with Go's regexp, groups and
// all, for every failregex and prefregex of the shipped filters (and the
// head of each prefregex, which content runs alone), over testkit's
// ASCIITexts and fail2ban's sample logs (each line whole and after each
// blank, as a failregex sees the content after a prefregex).
func TestASCIIAgrees(t *testing.T) {
	patterns := shippedPatterns(t)
	texts := slices.Clone(testkit.ASCIITexts)
	// Under the race detector (slower tenfold, and nothing to find in one
	// goroutine) 200 lines; README's test command runs this test
	// without it too, on all of them.
	n := 20_000
	if testing.Short() || raceEnabled {
		n = 200
	}
	for _, l := range sampleLines(t)[:n] {
		for i := 0; i >= 0; i = nextBlank(l, i) {
			texts = append(texts, l[i:])
		}
	}
	if runs := testkit.ASCIIAgrees(t, patterns, texts); runs < len(patterns)*3/4 {
		t.Errorf("only %d of %d patterns run", runs, len(patterns))
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
	var out []string
	for _, sf := range readShippedFilters(t) {
		f := sf.filter
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
