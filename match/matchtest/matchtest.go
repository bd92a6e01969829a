// Package matchtest holds what the tests of match's implementations
// share.
package matchtest

import (
	"sync"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
)

// Streamed matches entries in batches of size on a match.Stream, as the
// daemon's match stage does: one goroutine prepares them on owner, and one
// per scanner scans them and finishes them in turn. It returns the
// entries' states.
func Streamed(owner match.Splitter, scanners []match.Splitter, entries []ingest.Entry, now time.Time, size int) []match.LineState {
	return streamed(owner, scanners, entries, now, size, false)
}

// StreamedApart is Streamed for a filter whose Prepare keeps no state
// (match.PreparesApart), as Test runs it: each scanner takes batches in
// turn, prepares and scans them on its own, and finishes them in order on
// owner. It returns the entries' states.
func StreamedApart(owner match.Splitter, scanners []match.Splitter, entries []ingest.Entry, now time.Time, size int) []match.LineState {
	return streamed(owner, scanners, entries, now, size, true)
}

func streamed(owner match.Splitter, scanners []match.Splitter, entries []ingest.Entry, now time.Time, size int, apart bool) []match.LineState {
	type batch struct {
		seq    uint64
		lo, hi int
	}
	s := match.NewStream(owner)
	states := make([]match.LineState, len(entries))
	prepared := make(chan batch, 2)
	go func() {
		defer close(prepared)
		for lo, seq := 0, uint64(0); lo < len(entries); lo, seq = lo+size, seq+1 {
			b := batch{seq: seq, lo: lo, hi: min(lo+size, len(entries))}
			if !apart {
				s.Prepare(entries[b.lo:b.hi], uint64(b.lo), now, states[b.lo:b.hi])
			}
			prepared <- b
		}
	}()
	var wg sync.WaitGroup
	for _, m := range scanners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range prepared {
				if apart {
					s.PrepareOn(m, entries[b.lo:b.hi], uint64(b.lo), now, states[b.lo:b.hi])
				}
				s.Scan(m, entries[b.lo:b.hi], states[b.lo:b.hi])
				s.Scanned(b.seq, func() { s.Finish(entries[b.lo:b.hi], now, states[b.lo:b.hi]) })
			}
		}()
	}
	wg.Wait()
	return states
}
