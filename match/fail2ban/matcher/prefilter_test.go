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
