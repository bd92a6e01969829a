// Package datedetector finds dates in log lines exactly the way fail2ban's
// date detector does (the fail2ban-exact date code, for fail2ban's filters
// in match/fail2ban/matcher; match/fastdate is the fast one, for logjail's
// own filters): an ordered list of date templates (regular expressions built from
// strftime-like datepatterns), the last successful template tried first,
// templates reordered by use, and fail2ban's rules for dates without a
// year, a day or a zone.
//
// A datepattern is one or more lines, each a template: a strftime-like
// pattern (%Y %m %d %H %M %S %b %z %f %ExY … within a Python regular
// expression), "{^LN-BEG}" (fail2ban's default templates anchored at the
// line start), "{DEFAULT}" (all default templates), "{NONE}" (no date: the
// line is dated now), "Epoch", "LEpoch", "TAI64N", a pattern with {DATE}
// (each default template in its place) or with {EPOCH}. An empty
// datepattern means all default templates.
package datedetector

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Result is what Find found.
type Result struct {
	// Found tells whether a template matched.
	Found bool
	// Start and End delimit the date text, which fail2ban cuts out of the
	// line before its failregex runs. They are equal when the template
	// matched no text ({NONE}).
	Start, End int
	// Time is the date; valid when OK.
	Time time.Time
	// OK tells whether the date text made a valid date.
	OK bool
	// Template names the template that matched.
	Template string
}

// Detector finds dates. It is used by one goroutine: it reorders its
// templates and remembers the last match.
type Detector struct {
	loc     *time.Location
	slots   []*slot
	names   map[string]bool
	lastIdx int
	// Position of the last match: its start with the characters before it
	// and at it, and its end with the characters before it and at it.
	lastStart         int
	lastBefore        string
	lastAt            string
	lastEnd           int
	lastEndBefore     string
	lastEndAt         string
	haveLastPositions bool
	firstUnused       int

	memo dateMemo
	// groups holds the groups of the template searched first on a line,
	// reused from line to line: no candidate outlives Find.
	groups []int

	// Timeouts counts template searches on the backtracking engine that
	// timed out (each counted as no date there).
	Timeouts uint64
}

type slot struct {
	t        *template
	hits     int
	lastUsed int64 // Unix seconds
	distance int
}

func (s *slot) weight() float64 {
	return float64(s.hits) * s.t.weight / float64(max(1, s.distance))
}

const farAway = 0x7fffffff

// New builds a detector for datepattern (see the package comment). Dates
// without a zone are in loc (time.Local when nil). now is the reference
// for the years %ExY accepts (time.Now() when zero).
func New(datepattern string, loc *time.Location, now time.Time) (*Detector, error) {
	if loc == nil {
		loc = time.Local
	}
	if now.IsZero() {
		now = time.Now()
	}
	d := &Detector{loc: loc, names: map[string]bool{}, lastIdx: farAway, lastStart: 1, lastEnd: farAway}
	var errs []error
	for _, line := range strings.Split(datepattern, "\n") {
		p := strings.TrimSpace(line)
		if p == "" {
			continue
		}
		if err := d.add(p, now); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(d.slots) == 0 {
		if err := d.addDefaults(all, "", now); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Template selections for addDefaults.
const (
	all          = iota // the anchored variants, then all defaults
	lineBegin           // those anchored at the line start
	defaultsOnly        // the defaults without the anchored variants
)

func (d *Detector) add(p string, now time.Time) error {
	key := p
	if !strings.Contains(p, "%") {
		key = strings.ToUpper(p)
	}
	switch {
	case key == "{^LN-BEG}":
		return d.addDefaults(lineBegin, "", now)
	case key == "{DEFAULT}":
		return d.addDefaults(all, "", now)
	case strings.Contains(strings.ToUpper(p), "{DATE}"):
		return d.addDefaults(defaultsOnly, p, now)
	case key == "{NONE}":
		t, err := newPattern("{UNB}^", now)
		if err != nil {
			return err
		}
		return d.append(t, false)
	}
	t, err := fromKey(p, key, now)
	if err != nil {
		return err
	}
	return d.append(t, false)
}

// fromKey makes a template from one datepattern line.
func fromKey(p, key string, now time.Time) (*template, error) {
	if strings.Contains(key, "EPOCH") {
		up := strings.ToUpper(p)
		if strings.Contains(up, "{EPOCH}") || strings.Contains(up, "{LEPOCH}") {
			return newEpochPattern(p, strings.Contains(key, "LEPOCH"))
		}
		switch key {
		case "EPOCH", "{^LN-BEG}EPOCH", "^EPOCH":
			return newEpoch(key != "EPOCH", false)
		case "LEPOCH", "{^LN-BEG}LEPOCH", "^LEPOCH":
			return newEpoch(key != "LEPOCH", true)
		}
	}
	switch key {
	case "TAI64N", "{^LN-BEG}TAI64N", "^TAI64N":
		return newTAI64N(key != "TAI64N")
	}
	return newPattern(p, now)
}

func (d *Detector) append(t *template, ignoreDup bool) error {
	if d.names[t.name] {
		if ignoreDup {
			return nil
		}
		return fmt.Errorf("datepattern: there is already a template %q", t.name)
	}
	d.names[t.name] = true
	d.slots = append(d.slots, &slot{t: t, distance: farAway})
	return nil
}

// defaultPatterns are fail2ban's default date formats, in its order of
// preference (written as datepatterns; a separator that must repeat is
// spelled out per separator instead of a back-reference).
var defaultPatterns = []string{
	// 2005-01-23T21:59:59.981746, 2005-01-23 21:59:59, 2005/01/23 21:59:59, 2006.12.21 06:43:20
	`%ExY(?:-%m-|/%m/|\.%m\.)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?`,
	// Sun Jan 23 21:59:59.011 2005
	`(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
	// Sun Jan 23 2005 21:59:59.011
	`(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?`,
	// 23/01/2005 21:59:59, 23/01/05 21:59:59, 17-07-2008 17:23:25
	`%d(?:-%m-|/%m/)(?:%ExY|%Exy) %k:%M:%S`,
	// 31/Oct/2006:09:22:55 -0000, 26-Jul-2007 15:20:52.252 +0200
	`%d(?:-%b-|/%b/)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?`,
	// 05/20/2008:01:57:39
	`%m/%d/%ExY:%H:%M:%S`,
	// 01-27-2012 16:22:44.252
	`%m-%d-%ExY %k:%M:%S(?:\.%f)?`,
	"EPOCH",
	// a time only
	`{^LN-BEG}%H:%M:%S`,
	// <09/16/08@05:03:30>
	`^<%m/%d/%Exy@%H:%M:%S>`,
	// 130322 11:46:11
	`%Exy%Exm%Exd  ?%H:%M:%S`,
	// Jan 23, 2005 9:59:59 PM
	`%b %d, %ExY %I:%M:%S %p`,
	// Apr-27-13 02:33:06
	`^%b-%d-%Exy %k:%M:%S`,
	// 20050123T215959, 20050123 215959
	`%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?`,
	// PDT Apr 16 21:05:29
	`(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
	// +00:00 Jan 23 21:59:59.011 2005
	`(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
	"TAI64N",
}

// defaults returns the default templates and their variants anchored at
// the line start (which fail2ban prefers: weight 100).
func defaults(now time.Time) (plain, anchored []*template, err error) {
	for _, p := range defaultPatterns {
		key := p
		if !strings.Contains(p, "%") {
			key = strings.ToUpper(p)
		}
		t, err := fromKey(p, key, now)
		if err != nil {
			return nil, nil, fmt.Errorf("default template %q: %w", p, err)
		}
		plain = append(plain, t)
		if strings.HasPrefix(t.name, "{^LN-BEG}") || strings.HasPrefix(t.name, "^") {
			continue
		}
		var a *template
		switch t.kind {
		case kindEpoch:
			a, err = newEpoch(true, false)
		case kindTAI64N:
			a, err = newTAI64N(true)
		default:
			a, err = newPattern("{^LN-BEG}"+t.pattern, now)
		}
		if err != nil {
			return nil, nil, err
		}
		if a.name == t.name {
			continue
		}
		a.weight = 100
		anchored = append(anchored, a)
	}
	return plain, anchored, nil
}

func (d *Detector) addDefaults(sel int, preMatch string, now time.Time) error {
	plain, anchored, err := defaults(now)
	if err != nil {
		return err
	}
	ignoreDup := len(d.slots) > 0
	var list []*template
	if sel == defaultsOnly {
		list = plain
	} else {
		list = append(append(list, anchored...), plain...)
	}
	for _, t := range list {
		if sel == lineBegin && t.flags&flagLineBegin == 0 {
			continue
		}
		if preMatch != "" {
			inner := t.pattern
			if inner == "" {
				inner = t.name
			}
			p := replaceDate(preMatch, unbound(inner))
			key := p
			if !strings.Contains(p, "%") {
				key = strings.ToUpper(p)
			}
			if t, err = fromKey(p, key, now); err != nil {
				return err
			}
		}
		if err := d.append(t, ignoreDup); err != nil {
			return err
		}
	}
	return nil
}

// replaceDate puts inner in place of every unescaped {DATE} (any case).
func replaceDate(p, inner string) string {
	var b strings.Builder
	for i := 0; i < len(p); {
		if (i == 0 || p[i-1] != '\\') && strings.HasPrefix(strings.ToUpper(p[i:]), "{DATE}") {
			b.WriteString(inner)
			i += len("{DATE}")
			continue
		}
		b.WriteByte(p[i])
		i++
	}
	return b.String()
}

// unbound strips the boundary markers of a template's pattern.
func unbound(p string) string {
	p = strings.TrimPrefix(p, "{UNB}")
	p = strings.TrimPrefix(p, "{^LN-BEG}")
	for _, pre := range []string{`(^|\b|\W)`, `(?:^|\b|\W)`} {
		p = strings.TrimPrefix(p, pre)
	}
	return strings.TrimSuffix(p, lookWordEnd)
}

// Find finds the date in line, as fail2ban's DateDetector.matchTime and
// getTime do. now is the reference for dates without a year or day and
// the clock of template reordering.
//
// Positions kept between lines are in characters (code points), as
// Python counts them; they decide whether the last template is searched
// at the same place only.
func (d *Detector) Find(line string, now time.Time) Result {
	ln := newText(line)
	hit, found, ignore := d.tryLast(line, ln)
	if hit.loc == nil {
		hit = d.scan(line, ln, ignore, found)
	}
	if hit.loc == nil {
		return Result{}
	}
	t := d.slots[hit.idx].t
	d.use(hit, ln, now)
	loc := hit.loc
	r := Result{Found: true, Start: loc[2*t.date], End: loc[2*t.date+1], Template: t.name}
	if r.Start < 0 {
		r.Start = loc[2*t.span]
		r.End = r.Start
	}
	r.Time, r.OK = d.parse(t, line, loc, now)
	return r
}

// candidate is a template's match on a line.
type candidate struct {
	loc        []int
	start, end int // the span, in characters
	idx        int // the template's slot
}

func newCandidate(t *template, loc []int, ln text, idx int) candidate {
	return candidate{loc: loc, start: ln.cp(loc[2*t.span]), end: ln.cp(loc[2*t.span+1]), idx: idx}
}

// tryLast tries the template that matched last, within the span it
// matched then when the text around it is the same. hit is its match when
// it can be trusted; otherwise found holds the match to fall back on.
// ignore is the slot that scan need not try again (farAway: none).
func (d *Detector) tryLast(line string, ln text) (hit, found candidate, ignore int) {
	found, ignore = candidate{start: farAway, end: farAway, idx: -1}, farAway
	n, i := len(d.slots), d.lastIdx
	if i >= n {
		return hit, found, ignore
	}
	t := d.slots[i].t
	anchored := t.flags&(flagLineBegin|flagLineEnd) != 0
	var loc []int
	if !anchored && d.haveLastPositions && d.sameBounds(ln) {
		loc = d.findWithin(t, line, ln.byteOf(d.lastStart), ln.byteOf(d.lastEnd), ln.ascii)
	} else {
		loc = d.findInto(d.groups, t, line, ln.ascii)
		ignore = i
	}
	if loc == nil {
		return hit, found, ignore
	}
	d.groups = loc
	c := newCandidate(t, loc, ln, i)
	if n == 1 || anchored || (c.start == d.lastStart && c.end == d.lastEnd) {
		return c, found, ignore
	}
	return hit, c, ignore
}

// scan tries the templates in order (but slot ignore), as fail2ban's
// matchTime: a match farther into the line than the template's usual
// distance is kept only if no nearer one turns up.
func (d *Detector) scan(line string, ln text, ignore int, found candidate) candidate {
	n := len(d.slots)
	for i := 0; i < n; i++ {
		if i == ignore {
			continue
		}
		s := d.slots[i]
		loc := d.find(s.t, line, ln.ascii)
		if loc == nil {
			continue
		}
		c := newCandidate(s.t, loc, ln, i)
		if i+1 >= n || s.t.flags&(flagLineBegin|flagLineEnd) != 0 {
			return c
		}
		if c.start == 0 && s.hits > 0 && d.slots[i+1].hits == 0 {
			return c
		}
		if c.start > s.distance || c.start > d.lastStart {
			if c.start < found.start {
				found = c
			}
			continue
		}
		return c
	}
	return found
}

// use records the template that matched: its hits, its distance, the
// positions for the next line, and its place in the order.
func (d *Detector) use(c candidate, ln text, now time.Time) {
	i, s := c.idx, d.slots[c.idx]
	s.hits++
	s.lastUsed = now.Unix()
	s.distance = c.start
	if d.firstUnused == i {
		d.firstUnused++
	}
	mStart, mEnd := c.start, c.end
	d.lastStart, d.lastBefore, d.lastAt = mStart, ln.sub(mStart-1, mStart), ln.sub(mStart, mStart+1)
	d.lastEnd, d.lastEndBefore, d.lastEndAt = mEnd, ln.sub(mEnd-1, mEnd), ln.sub(mEnd, mEnd+1)
	d.haveLastPositions = true
	if i != 0 && i != d.lastIdx {
		i = d.reorder(i)
	}
	d.lastIdx = i
}

// sameBounds tells whether line has the same characters around the last
// match's position, so the last template is searched there only.
func (d *Detector) sameBounds(ln text) bool {
	ds, de := d.lastStart, d.lastEnd
	okStart := ln.sub(ds-1, ds) == d.lastBefore ||
		(ln.sub(ds, ds+1) == d.lastAt && !isAlnum(d.lastAt))
	okEnd := ln.sub(de, de+1) == d.lastEndAt ||
		(ln.sub(de-1, de) == d.lastEndBefore && !isAlnum(d.lastEndBefore))
	return okStart && okEnd
}

// reorder moves a template that matched towards the front of the list,
// as fail2ban does (by weight: hits per distance, and by last use).
func (d *Detector) reorder(num int) int {
	s := d.slots[num]
	untime := s.lastUsed - 300
	weight := s.weight()
	pos := num / 2
	if d.firstUnused < num {
		pos = d.firstUnused
	}
	moveable := func() bool {
		p := d.slots[pos]
		return weight > p.weight() || untime > p.lastUsed
	}
	if !moveable() {
		if pos == num-1 {
			return num
		}
		pos = num - 1
		if !moveable() {
			return num
		}
	}
	copy(d.slots[pos+1:num+1], d.slots[pos:num])
	d.slots[pos] = s
	for d.firstUnused < len(d.slots) && d.slots[d.firstUnused].hits > 0 {
		d.firstUnused++
	}
	return pos
}

// find searches line with template t.
func (d *Detector) find(t *template, line string, ascii bool) []int {
	return d.findInto(nil, t, line, ascii)
}

// findInto is find that may return the groups in dst's array.
func (d *Detector) findInto(dst []int, t *template, line string, ascii bool) []int {
	loc, err := t.re.FindStringSubmatchIndexInto(dst, line, ascii)
	if err != nil {
		d.Timeouts++
		return nil
	}
	return loc
}

// findWithin searches the template in line[start:end] only (Python's
// pattern.search(line, start, end)). RE2 has no start offset that keeps
// the text before it visible, so matches are taken in turn until one
// starts at or after start; a later one is searched in the rest of the
// line, which loses one character of context (an approximation for dates
// that follow an earlier date-like text on the same line).
func (d *Detector) findWithin(t *template, line string, start, end int, ascii bool) []int {
	if end > len(line) {
		end = len(line)
	}
	if start < 0 {
		start = 0
	}
	if start > end {
		return nil
	}
	s := line[:end]
	loc, err := t.re.FindStringSubmatchIndexInto(d.groups, s, ascii)
	if err != nil {
		d.Timeouts++
	}
	for err == nil && loc != nil {
		if loc[2*t.span] >= start {
			return loc
		}
		// A later match: search again after this one's start.
		next := loc[2*t.span] + 1
		if next > len(s) {
			return nil
		}
		more, err2 := t.re.FindStringSubmatchIndexHint(s[next:], ascii)
		if err2 != nil || more == nil {
			return nil
		}
		for k := range more {
			if more[k] >= 0 {
				more[k] += next
			}
		}
		loc, err = more, err2
	}
	return nil
}
