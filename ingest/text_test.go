package ingest

import "testing"

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
