package asciire_test

import (
	"regexp"
	"slices"
	"testing"

	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match/asciire"
)

// FuzzASCII compares Regexp with Go's regexp on expressions and texts
// the fuzzer makes up: wherever Regexp takes an expression and answers
// (an ASCII text, or another whose bytes it read were ASCII: FindPrefix;
// within its step budget), its match and groups are Go's.
// TestASCIIAgrees covers the shipped filters on real logs; this looks for
// the shapes nobody wrote down.
func FuzzASCII(f *testing.F) {
	for _, p := range asciiPatterns {
		for _, text := range testkit.ASCIITexts[:12] {
			f.Add(p, text)
		}
	}
	for _, tc := range asciiShapes {
		f.Add(tc.pattern, "Failed password for root from 192.0.2.1 port 22 ssh2")
		f.Add(tc.pattern, "Failed password for r\xc3\xb6ot from 192.0.2.1 port 22 ssh2")
	}
	f.Fuzz(func(t *testing.T, pattern, text string) {
		if len(pattern) > 64 || len(text) > 256 {
			return
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		a := asciire.Compile(pattern)
		if a == nil {
			return
		}
		find := a.Find
		if !asciire.IsASCII(text) {
			find = a.FindPrefix // only the bytes it read need be ASCII
		}
		got, ok := find(text)
		if want := re.FindStringSubmatchIndex(text); ok && !slices.Equal(got, want) {
			t.Fatalf("%q on %q: Regexp %v, regexp %v", pattern, text, got, want)
		}
	})
}
