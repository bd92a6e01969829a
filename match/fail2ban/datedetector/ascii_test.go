package datedetector

import (
	"testing"
	"time"

	"github.com/logjail/logjail/internal/f2bsample"
	"github.com/logjail/logjail/internal/testkit"
)

// TestASCIIAgrees compares match/asciire, which runs the date templates'
// RE2 programs on ASCII lines, with Go's regexp, groups and all: every
// default template and its variant anchored at the line start, and the
// templates of the detector cases above, over their lines, testkit's
// ASCIITexts and fail2ban's sample logs.
func TestASCIIAgrees(t *testing.T) {
	lines, err := f2bsample.AllLogLines()
	if len(lines) == 0 {
		testkit.Missing(t, "no fail2ban sample logs: %v", err)
	}
	if testing.Short() {
		lines = lines[:min(len(lines), 2_000)]
	}
	texts := append(append([]string(nil), testkit.ASCIITexts...), lines...)
	var patterns []string
	seen := map[string]bool{}
	add := func(d *Detector) {
		for _, s := range d.slots {
			if p := s.t.re.String(); s.t.re.RE2() != nil && !seen[p] {
				seen[p] = true
				patterns = append(patterns, p)
			}
		}
	}
	d, err := New("", time.UTC, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	add(d)
	for _, tc := range detectorCases {
		texts = append(texts, tc.line)
		if d, err := New(tc.pattern, time.UTC, time.Time{}); err == nil {
			add(d)
		}
	}
	if runs := testkit.ASCIIAgrees(t, patterns, texts); runs < len(patterns)*3/4 {
		t.Errorf("only %d of %d templates run on asciire", runs, len(patterns))
	}
}
