package ingest

import (
	"strings"
	"unicode/utf8"
)

// Clip cuts s to at most n bytes, copied, so the cut does not keep a large
// message alive. The cut falls between characters, and bytes that are not
// UTF-8 (another node's header, a binary log) are replaced: what is kept of
// a line is shown in status, ban events and logs as text.
func Clip(s string, n int) string {
	s = ValidUTF8(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.Clone(s[:n])
}

// ValidUTF8 is strings.ToValidUTF8(s, "\uFFFD") with a fast path: valid
// text, nearly every line, is checked eight bytes at a time (ASCII) and
// returned as it is, where strings.ToValidUTF8 decodes it rune by rune.
func ValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
