package matcher

import (
	"strings"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/fail2ban/pyre"
)

// IMPORTS
// f2bMulti matches with a buffer of the last maxlines lines.
func (f *Matcher) multi(e *ingest.Entry, text string, t, now time.Time) (match.Failure, match.Outcome) {
	f.lines = append(f.lines, text)
	if n := len(f.lines); n > f.maxLines {
		f.lines = append(f.lines[:0:0], f.lines[n-f.maxLines:]...)
	}
	org := f.lines
	buf := joinLines(org)
	ascii := pyre.IsASCII(buf) // the buffer holds earlier lines too
	if len(f.ignore) > 0 && len(f.ignore) < len(f.fail)-2 {
		for _, ig := range f.ignore {
			if f.matchesCounted(ig, []byte(buf), ascii) {
				return match.Failure{}, match.Ignored
			}
		}
	}
	var preLoc []int
	preText := buf
	if f.pref != nil {
		preLoc = f.searchCounted(f.pref, []byte(buf), ascii)
		if preLoc == nil {
			return match.Failure{}, match.Miss
		}
		if ci := f.pref.content; ci > 0 && preLoc[2*ci] >= 0 && preLoc[2*ci+1] > preLoc[2*ci] {
			f.lines = []string{buf[preLoc[2*ci]:preLoc[2*ci+1]]}
			buf = ""
		}
	}
	for i, fr := range f.fail {
		if buf == "" {
			buf = joinLines(f.lines)
		}
		loc := f.searchCounted(fr, []byte(buf), ascii)
		if loc == nil {
			continue
		}
		matched, unmatched := splitMatch(fr, buf, loc, org)
		if len(f.ignore) > 0 {
			mb := []byte(joinLines(matched))
			for _, ig := range f.ignore {
				if f.matchesCounted(ig, mb, ascii) {
					f.lines = unmatched
					return match.Failure{}, match.Ignored
				}
			}
		}
		ranOn := buf
		f.lines, buf = unmatched, ""
		g := map[string]string{}
		if preLoc != nil {
			f.pref.groups(preText, preLoc, g)
			delete(g, groupContent)
		}
		fr.groups(ranOn, loc, g)
		fl, out, ok := f.failure(g, len(matched), i, t, now)
		if !ok {
			continue
		}
		f.hits[i]++
		fl.Line, fl.Pos = e.Message, e.Pos
		return fl, out
	}
	return match.Failure{}, match.Miss
}

// searchCounted is search, counting a timeout.
func (f *Matcher) searchCounted(r *f2bRegex, text []byte, ascii bool) []int {
	loc, timedOut := search(r, nil, text, ascii)
	if timedOut {
		f.timedOut(r.site)
	}
	return loc
}

// matchesCounted is matches, counting a timeout.
func (f *Matcher) matchesCounted(r *f2bRegex, text []byte, ascii bool) bool {
	ok, timedOut := matches(r, text, ascii)
	if timedOut {
		f.timedOut(r.site)
	}
	return ok
}

func joinLines(lines []string) string {
	return strings.Join(lines, "\n") + "\n"
}

// splitMatch returns the lines a multi-line match covers (without those
// its <SKIPLINES> skipped) and the lines left in the buffer.
func splitMatch(fr *f2bRegex, buf string, loc []int, org []string) (matched, unmatched []string) {
	if len(org) <= 1 {
		return org, nil
	}
	start, end := loc[0], loc[1]
	lineStart := strings.LastIndexByte(buf[:min(start+1, len(buf))], '\n') + 1
	from := end - 1
	if from < 0 {
		from = len(buf) - 1
	}
	lineEnd := len(buf)
	if k := strings.IndexByte(buf[from:], '\n'); k >= 0 {
		lineEnd = from + k + 1
	}
	n1 := strings.Count(buf[:lineStart], "\n")
	n2 := strings.Count(buf[:lineEnd], "\n")
	n1, n2 = min(n1, len(org)), min(n2, len(org))
	matched = append([]string(nil), org[n1:n2]...)
	unmatched = append([]string(nil), org[:n1]...)
	var skipped []string
	for _, g := range fr.skip {
		if loc[2*g] >= 0 {
			skipped = append(skipped, buf[loc[2*g]:loc[2*g+1]])
		}
	}
	if len(skipped) > 0 {
		n := 0
		for _, sl := range splitLines(strings.Join(skipped, "")) {
			for k := n; k < len(matched); k++ {
				if matched[k] == sl {
					unmatched = append(unmatched, matched[k])
					matched = append(matched[:k], matched[k+1:]...)
					n = k
					break
				}
			}
		}
	}
	unmatched = append(unmatched, org[n2:]...)
	return matched, unmatched
}

// splitLines splits like Python's str.splitlines() for "\n"-joined text.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}
