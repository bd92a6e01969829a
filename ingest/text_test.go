package ingest

import (
	"strings"
	"testing"
)

// What is kept of a line stays valid UTF-8 when cut to its bound (found by
// the fleet's fuzz targets: a cut inside a character).
func TestClipKeepsUTF8(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "abc", 5, "abc"},
		{"ascii cut", "abcdef", 3, "abc"},
		{"cut inside a character", "aé", 2, "a"},
		{"cut after a character", "aéb", 3, "aé"},
		{"four-byte character", "😀x", 3, ""},
		{"not UTF-8, short", "a\xffb", 10, "a\uFFFDb"},
		{"not UTF-8, cut", "\xff\xfe", 4, "\uFFFD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Clip(tc.in, tc.n); got != tc.want || len(got) > tc.n {
				t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

// ValidUTF8 is strings.ToValidUTF8 with U+FFFD, and valid text costs no
// allocation.
func TestValidUTF8(t *testing.T) {
	for _, in := range []string{"", "plain ascii", "aé😀", "a\xffb", "\xff\xfe", "ok\xe2\x82", "\xed\xa0\x80 surrogate"} {
		if got, want := ValidUTF8(in), strings.ToValidUTF8(in, "\uFFFD"); got != want {
			t.Errorf("ValidUTF8(%q) = %q, want %q", in, got, want)
		}
	}
	s := strings.Repeat("Nov 25 07:13:18 host sshd[1]: Failed password ", 3)
	if n := testing.AllocsPerRun(100, func() { ValidUTF8(s) }); n != 0 {
		t.Errorf("%.1f allocs for valid text", n)
	}
}
