package matcher

import (
	"strings"
	"testing"
)

func TestLitSet(t *testing.T) {
	tests := []struct {
		name string
		strs []string
		text string
		want bool
	}{
		{"at the start", []string{"Failed ", "Accepted "}, "Failed password", true},
		{"at the end", []string{"Failed ", "Accepted "}, "x Accepted ", true},
		{"in the middle", []string{"not allowed"}, "User x not allowed because", true},
		{"none", []string{"Failed ", "Accepted "}, "[UFW BLOCK] IN=eth0", false},
		{"a key hit that is not a string", []string{"Failed "}, "Faile", false},
		{"shared first bytes", []string{"Connection closed", "Connection reset"}, "Connection reset by", true},
		{"three-byte strings", []string{"abc", "xyz"}, "--xyz", true},
		{"text shorter than the key", []string{"abcd"}, "ab", false},
		{"non-ASCII", []string{"gefällt"}, "es gefällt mir", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLitSet(tt.strs)
			if got := s.in([]byte(tt.text)); got != tt.want {
				t.Errorf("%q in %q: %v, want %v", tt.strs, tt.text, got, tt.want)
			}
			// The same answer as a plain search.
			plain := false
			for _, str := range tt.strs {
				plain = plain || strings.Contains(tt.text, str)
			}
			if plain != tt.want {
				t.Errorf("case disagrees with strings.Contains")
			}
		})
	}
	if newLitSet([]string{"abc", "ab"}) != nil || newLitSet(nil) != nil {
		t.Error("a set with a string shorter than minLitKey, or none, must be nil")
	}
}

// A set read a stride at a time finds each of its strings at every
// offset of a text, at its end, and twice over; and no string cut short
// or changed in its last byte.
func TestLitSetStride(t *testing.T) {
	sets := [][]string{
		{"Failed ", "Accepted ", "Connection closed by", "Invalid user "},
		{"abcdefghijklmnop", "0123456789"},
		{"abcd", "wxyz0123"},
		{"abc", "xyzw"},
	}
	for _, strs := range sets {
		s := newLitSet(strs)
		for _, str := range strs {
			cut, changed := str[:len(str)-1], str[:len(str)-1]+"\x00"
			for pad := 0; pad <= 2*maxStride+1; pad++ {
				for _, c := range []struct {
					text string
					want bool
				}{
					{strings.Repeat(".", pad) + str + "..", true},
					{strings.Repeat(".", pad) + str, true},
					{strings.Repeat(".", pad) + cut + " " + str, true},
					{strings.Repeat(".", pad) + cut, false},
					{strings.Repeat(".", pad) + changed + "..", false},
				} {
					if got := s.in([]byte(c.text)); got != c.want {
						t.Errorf("%q (stride %d) in %q: %v, want %v", strs, s.stride, c.text, got, c.want)
					}
				}
			}
		}
	}
}
