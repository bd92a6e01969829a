package datedetector

import (
	"slices"
	"time"
)

// dateMemo is the last date parsed. Consecutive lines often carry the
// same date text: a match with the same template, the same text at the
// same places of its groups and the same now parses to the same time.
type dateMemo struct {
	t    *template
	now  time.Time
	text string // the text the groups cover
	rel  []int  // the groups' places in text (-1: no part)
	time time.Time
	ok   bool
}

// parse is t.parse, remembered.
func (d *Detector) parse(t *template, line string, loc []int, now time.Time) (time.Time, bool) {
	lo, hi := len(line), 0
	for k := 0; k+1 < len(loc); k += 2 {
		if loc[k] >= 0 {
			lo, hi = min(lo, loc[k]), max(hi, loc[k+1])
		}
	}
	lo = min(lo, hi)
	m := &d.memo
	if m.t == t && m.now.Equal(now) && m.now.Location() == now.Location() && m.text == line[lo:hi] && sameRel(m.rel, loc, lo) {
		return m.time, m.ok
	}
	m.time, m.ok = t.parse(line, loc, now, d.loc)
	m.t, m.now, m.text = t, now, line[lo:hi]
	m.rel = slices.Grow(m.rel[:0], len(loc))[:len(loc)]
	for k, v := range loc {
		m.rel[k] = -1
		if v >= 0 {
			m.rel[k] = v - lo
		}
	}
	return m.time, m.ok
}

func sameRel(rel, loc []int, lo int) bool {
	if len(rel) != len(loc) {
		return false
	}
	for k, v := range loc {
		if v >= 0 {
			v -= lo
		}
		if rel[k] != v {
			return false
		}
	}
	return true
}
