package native

import (
	"strings"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
)

// Several lines at once (maxlines N > 1, as fail2ban's): the prefregex
// runs on each line alone (a line it does not match is a miss and is not
// kept); the failregexes, compiled with (?m) so that ^ and $ match at
// each line's start and end, run on the contents of the last N lines
// kept, joined by "\n". The lines a match spans leave the buffer, so a
// line counts once; the others stay for the next lines. The failure is
// dated with the current line. Such a filter reads every line in order
// on one goroutine (it does not split).

// bufLine is a line kept: the text the failregexes see, and its
// prefregex's connection id.
type bufLine struct {
	text  string
	id    string
	hasID bool
}

// multi matches e (text is its message without its date, t its time)
// with the lines kept before it.
func (m *Matcher) multi(e *ingest.Entry, text string, t time.Time) (match.Failure, match.Outcome) {
	content, id, hasID, ok := m.content(text)
	if !ok {
		return match.Failure{}, match.Miss
	}
	// Copied: the entry's text is not kept once matched.
	m.lines = append(m.lines, bufLine{text: strings.Clone(content), id: strings.Clone(id), hasID: hasID})
	if n := len(m.lines); n > m.maxLines {
		m.lines = append(m.lines[:0], m.lines[n-m.maxLines:]...)
	}
	buf := joinBuf(m.lines)
	for i := range m.fail {
		fr := &m.fail[i]
		loc := fr.re.FindStringSubmatchIndex(buf)
		if loc == nil {
			continue
		}
		from, to := spanLines(buf, loc)
		last := m.lines[to-1]
		var fd found
		m.failure(&fd, e, buf, t, i, loc)
		m.lines = append(m.lines[:from], m.lines[to:]...)
		if fd.out == match.Ignored || fd.out == match.BadAddress {
			return match.Failure{}, fd.out
		}
		fd.f.Attempts = to - from
		if fr.mlfid >= 0 && loc[2*fr.mlfid] >= 0 {
			last.id, last.hasID = group(buf, loc, fr.mlfid), true
		}
		if m.tracks && last.hasID {
			fd.id, fd.hasID = last.id, true
		}
		fd.f.User, fd.user = strings.Clone(fd.f.User), strings.Clone(fd.user)
		return m.finish(&fd)
	}
	return match.Failure{}, match.Miss
}

// joinBuf joins the lines kept with "\n".
func joinBuf(lines []bufLine) string {
	if len(lines) == 1 {
		return lines[0].text
	}
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l.text)
	}
	return b.String()
}

// spanLines returns the lines [from, to) of buf a match at loc spans.
func spanLines(buf string, loc []int) (from, to int) {
	from = strings.Count(buf[:loc[0]], "\n")
	end := loc[1]
	if end > loc[0] {
		end-- // a match ending with a line's "\n" does not span the next
	}
	to = strings.Count(buf[:end], "\n") + 1
	return from, to
}
