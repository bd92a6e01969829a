package pyre

import (
	"sync"
	"unsafe"

	"github.com/logjail/logjail/match/asciire"
)

// asciiEngine runs a pattern's RE2 program for ASCII text on
// match/asciire, which gives Go's regexp's match and groups several times
// faster (its package comment says why they agree). A search it gives up
// (its step budget) runs on Go's regexp as before. A Regexp is shared by
// goroutines (datedetector caches its templates' programs); an
// asciire.Regexp holds the state of one search, so each search borrows
// one from the pool.
type asciiEngine struct {
	pool sync.Pool
}

// newASCIIEngine compiles expr (RE2 syntax) for asciire, or returns nil
// when asciire does not take it.
func newASCIIEngine(expr string) *asciiEngine {
	a := asciire.Compile(expr)
	if a == nil {
		return nil
	}
	e := &asciiEngine{}
	e.pool.New = func() any { return a.Copy() }
	return e
}

// find searches the ASCII text s for r's program: the match and its
// groups (as r.unfoldInto gives them), in dst's array (which the caller
// keeps; nil: a new slice), when groups; else only whether there is one
// (loc is then non-nil on a match, and not to be read). ok is false when
// asciire gave up: the caller runs Go's regexp.
func (e *asciiEngine) find(r *Regexp, s string, dst []int, groups bool) (loc []int, ok bool) {
	a := e.pool.Get().(*asciire.Regexp)
	loc, ok = a.Find(s)
	if loc != nil {
		if groups {
			loc = r.unfoldInto(dst, loc)
		} else {
			loc = matched
		}
	}
	e.pool.Put(a)
	return loc, ok
}

// matched stands for a match whose groups were not asked for.
var matched = []int{}

// bytesText is b as a string without a copy, for asciire, which reads
// the text only while it searches and keeps nothing of it.
func bytesText(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// bounded is s cut to the bytes a match can see (see Regexp.bound).
func (r *Regexp) bounded(s string) string {
	if r.bound >= 0 && len(s) > r.bound {
		return s[:r.bound]
	}
	return s
}
