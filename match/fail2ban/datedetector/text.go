package datedetector

import (
	"unicode"
	"unicode/utf8"

	"github.com/logjail/logjail/match/fail2ban/pyre"
)

// text is a line with conversions between byte offsets and character
// (code point) positions; free for ASCII lines.
type text struct {
	s     string
	ascii bool
	off   []int // byte offset of each character, then len(s)
}

func newText(s string) text {
	t := text{s: s, ascii: pyre.IsASCII(s)}
	if !t.ascii {
		t.off = make([]int, 0, len(s)+1)
		for i := range s {
			t.off = append(t.off, i)
		}
		t.off = append(t.off, len(s))
	}
	return t
}

// cp returns the character position of byte offset b.
func (t text) cp(b int) int {
	if t.ascii || b < 0 {
		return b
	}
	lo, hi := 0, len(t.off)-1
	for lo < hi {
		m := (lo + hi) / 2
		if t.off[m] < b {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// length returns the number of characters.
func (t text) length() int {
	if t.ascii {
		return len(t.s)
	}
	return len(t.off) - 1
}

// byteOf returns the byte offset of character position c (clipped).
func (t text) byteOf(c int) int {
	if c < 0 {
		return 0
	}
	if c > t.length() {
		c = t.length()
	}
	if t.ascii {
		return c
	}
	return t.off[c]
}

// sub returns the characters [i, j) as Python's s[i:j] for 0 <= i, and
// "" for i < 0 (Python's s[-1:0]).
func (t text) sub(i, j int) string {
	if i < 0 {
		i = 0
	}
	if j > t.length() {
		j = t.length()
	}
	if i >= j {
		return ""
	}
	return t.s[t.byteOf(i):t.byteOf(j)]
}

// isAlnum is Python's str.isalnum for one character.
func isAlnum(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && (unicode.IsLetter(r) || unicode.IsNumber(r))
}
