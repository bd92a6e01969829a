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
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.Clone(s[:n])
}
