package ingest

import (
	"strings"
	"unicode/utf8"
)

// Layout renders a structured record (syslog, journald, a NATS envelope) as
// the line a syslog daemon writes to a file, without its date:
// "HOST TAG[PID]: MSG". An empty host is left out, and so is the
// "TAG[PID]:" part without a tag (a pid without a tag says nothing): so
// "TAG[PID]: MSG", "HOST MSG" or just "MSG".
//
// Every structured source lays its records out here, so that one filter
// serves them all and none of them differs by a stray byte. Each part is
// made one clean line:
//   - leading whitespace and UTF-8 byte order marks are removed (rsyslog's
//     RFC 5424 template sends MSG after a space, RFC 5424 allows a BOM
//     before it: either would put a second space or a BOM after "TAG[PID]:",
//     where no filter expects it);
//   - trailing whitespace, CR and LF are removed;
//   - embedded CR and LF become spaces, so that text inside a message cannot
//     pose as a line of its own to an anchored or multi-line filter;
//   - NULs are dropped and invalid UTF-8 becomes U+FFFD (one per run of bad
//     bytes, as strings.ToValidUTF8).
//
// Laying a record out costs one allocation (more only when invalid UTF-8
// makes the line longer than its parts).
func Layout(host, tag, pid, msg string) string {
	host, tag, pid, msg = trim(host), trim(tag), trim(pid), trim(msg)
	if tag == "" {
		pid = ""
	}
	var b strings.Builder
	b.Grow(len(host) + len(tag) + len(pid) + len(msg) + 5)
	if host != "" {
		writeClean(&b, host)
	}
	if tag != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		writeClean(&b, tag)
		if pid != "" {
			b.WriteByte('[')
			writeClean(&b, pid)
			b.WriteByte(']')
		}
		b.WriteByte(':')
	}
	if msg != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		writeClean(&b, msg)
	}
	return b.String()
}

// CleanField makes a structured field's value safe to keep and print:
// invalid UTF-8 becomes U+FFFD and NULs are dropped, as the file source
// does. Line ends are kept: fields are not matched as lines.
func CleanField(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "")
}

const bom = "\uFEFF"

// trim removes what Layout removes at the ends of a part: leading
// whitespace, NULs and BOMs; trailing whitespace and NULs.
func trim(s string) string {
	for len(s) > 0 {
		if isSpace(s[0]) {
			s = s[1:]
		} else if strings.HasPrefix(s, bom) {
			s = s[len(bom):]
		} else {
			break
		}
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f', 0:
		return true
	}
	return false
}

// writeClean writes s with CR and LF as spaces, without NULs, and with
// each run of invalid UTF-8 as one U+FFFD.
func writeClean(b *strings.Builder, s string) {
	if isClean(s) {
		b.WriteString(s)
		return
	}
	bad := false // the previous byte was invalid UTF-8
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			bad = false
			switch c {
			case 0:
			case '\r', '\n':
				b.WriteByte(' ')
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			if !bad {
				b.WriteString("\uFFFD")
			}
			bad = true
			i++
			continue
		}
		bad = false
		b.WriteString(s[i : i+n])
		i += n
	}
}

// isClean reports whether s is valid UTF-8 without CR, LF or NUL.
func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0 || c == '\r' || c == '\n':
			return false
		case c >= utf8.RuneSelf:
			// s[:i] is ASCII, so s[i:] starts at a rune boundary.
			return utf8.ValidString(s[i:]) && strings.IndexAny(s[i:], "\x00\r\n") < 0
		}
	}
	return true
}
