package match

import (
	"sync"
	"time"

	"github.com/logjail/logjail/ingest"
)

// Stream runs a Splitter over a stream of batches on several goroutines:
// one goroutine prepares the batches in order (Prepare, on the owner),
// any goroutine scans a prepared batch (Scan, on a matcher of its own),
// and the scanned batches are finished in order (Scanned): the goroutine
// that scanned the next batch to finish finishes it, and every scanned
// batch after it, while the others go on scanning. No goroutine waits
// for another's turn, so a busy machine that delays one does not stall
// the rest.
type Stream struct {
	owner Splitter
	// SampleEvery, when set, has the time to match every SampleEvery-th
	// entry of the stream measured, in its LineState.Took: the entries
	// whose place in the stream (counted from 1) is a multiple of it, the
	// same ones whichever batch or goroutine they fall to.
	SampleEvery int

	mu      sync.Mutex
	next    uint64            // the batch to finish next
	scanned map[uint64]func() // the scanned batches after it: their finish
	// finishing: a goroutine is running finishes (see Scanned).
	finishing bool
}

// NewStream returns a stream whose state between lines is owner's.
func NewStream(owner Splitter) *Stream {
	return &Stream{owner: owner, scanned: map[uint64]func(){}}
}

// Prepare runs the first half on entries, a batch, into states (one per
// entry); first is the number of the stream's entries before the batch
// (which entries are timed). The batches are prepared in order, by one
// goroutine at a time. Entries carrying a Recognised failure are skipped
// (Outcome Miss).
func (s *Stream) Prepare(entries []ingest.Entry, first uint64, now time.Time, states []LineState) {
	s.prepare(entries, first, states, func(e *ingest.Entry, l *LineState) { s.owner.Prepare(e, now, l) })
}

// PrepareOn is Prepare on m (the owner or a matcher compiled from the
// same rules, used by this goroutine only), for a filter whose Prepare
// keeps no state (PreparesApart): any goroutine prepares any batch, in
// any order, and only Finish runs in order.
func (s *Stream) PrepareOn(m Splitter, entries []ingest.Entry, first uint64, now time.Time, states []LineState) {
	s.prepare(entries, first, states, func(e *ingest.Entry, l *LineState) { m.Prepare(e, now, l) })
}

// Scan runs the middle on a prepared batch, with m (the owner or a
// matcher compiled from the same rules, used by this goroutine only).
func (s *Stream) Scan(m Splitter, entries []ingest.Entry, states []LineState) {
	s.each(entries, states, func(e *ingest.Entry, l *LineState) { m.Scan(e, l) })
}

// Finish runs the last half on a scanned batch: from Scanned's finish,
// in the batches' order. Then each Outcome and Failure in states is what
// owner's Match would have returned had it read every batch in order.
func (s *Stream) Finish(entries []ingest.Entry, now time.Time, states []LineState) {
	s.each(entries, states, func(e *ingest.Entry, l *LineState) { s.owner.Finish(e, now, l) })
}

// Scanned tells that batch seq (numbered from 0 in the order prepared) is
// scanned: finish, which calls Finish on it, runs once the batches before
// it have finished, one finish at a time — now, on this goroutine, with
// those after it that are scanned already, or later on the goroutine
// running the finishes then. The finishes run without the lock: a
// goroutine whose batch is not next registers it and goes on scanning
// while another finishes.
func (s *Stream) Scanned(seq uint64, finish func()) {
	s.mu.Lock()
	s.scanned[seq] = finish
	if s.finishing {
		s.mu.Unlock()
		return // the goroutine finishing runs it in its turn
	}
	s.finishing = true
	for {
		f, ok := s.scanned[s.next]
		if !ok {
			s.finishing = false
			s.mu.Unlock()
			return
		}
		delete(s.scanned, s.next)
		s.next++
		s.mu.Unlock()
		f()
		s.mu.Lock()
	}
}

// prepare runs the first half on the entries to match, resetting the
// states of those carrying a Recognised failure, and times the entries
// whose place in the stream is a multiple of SampleEvery.
func (s *Stream) prepare(entries []ingest.Entry, first uint64, states []LineState, half func(e *ingest.Entry, l *LineState)) {
	for i := range entries {
		e := &entries[i]
		if e.Recognised != nil {
			states[i] = LineState{} // Outcome Miss
			continue
		}
		if s.SampleEvery == 0 || (first+uint64(i)+1)%uint64(s.SampleEvery) != 0 {
			half(e, &states[i])
			states[i].Took = 0 // untimed, whatever a reused state held
			continue
		}
		start := time.Now()
		half(e, &states[i])
		// At least 1 ns: a timed entry is one with a Took.
		states[i].Took = max(time.Since(start), time.Nanosecond)
	}
}

// each runs a later half on the entries to match, adding the time it
// takes to the Took of the entries the first half timed.
func (s *Stream) each(entries []ingest.Entry, states []LineState, half func(e *ingest.Entry, l *LineState)) {
	for i := range entries {
		e := &entries[i]
		if e.Recognised != nil {
			continue
		}
		if states[i].Took == 0 {
			half(e, &states[i])
			continue
		}
		took, start := states[i].Took, time.Now()
		half(e, &states[i])
		states[i].Took = took + time.Since(start)
	}
}
