package match

import (
	"slices"
	"sync"
	"time"

	"github.com/logjail/logjail/ingest"
)

// Stream runs a Splitter over a stream of batches on several goroutines:
// each goroutine matches the batches it takes with Match, and the
// batches' ordered halves (Prepare, Finish, on the owner) take their turn
// in the batches' order, while the scans of different batches run at
// once. Every batch number from 0 on is matched once, by some goroutine;
// a goroutine takes its batches in order with the others (a queue), so
// the batches before its own are in hand and the turns come.
type Stream struct {
	owner     Splitter
	prep, fin turns
	// SampleEvery, when set, has the time to match every SampleEvery-th
	// entry of a batch measured, in its LineState.Took.
	SampleEvery int
}

// NewStream returns a stream whose state between lines is owner's.
func NewStream(owner Splitter) *Stream { return &Stream{owner: owner} }

// Match classifies entries, batch seq of the stream, into states (one
// per entry): each Outcome and Failure is what owner's Match would have
// returned had it read every batch in order. m scans (owner or a matcher
// compiled from the same rules, used by this goroutine only). Entries
// carrying a Recognised failure are skipped (Outcome Miss).
func (s *Stream) Match(seq uint64, m Splitter, entries []ingest.Entry, now time.Time, states []LineState) {
	s.prep.wait(seq)
	s.each(entries, states, true, func(e *ingest.Entry, l *LineState) { s.owner.Prepare(e, now, l) })
	s.prep.pass()
	s.each(entries, states, false, func(e *ingest.Entry, l *LineState) { m.Scan(e, l) })
	s.fin.wait(seq)
	s.each(entries, states, false, func(e *ingest.Entry, l *LineState) { s.owner.Finish(e, now, l) })
	s.fin.pass()
}

// each runs half on the entries to match, adding up the time it takes on
// every SampleEvery-th one (from 0 for the first half, which resets the
// states).
func (s *Stream) each(entries []ingest.Entry, states []LineState, first bool, half func(e *ingest.Entry, l *LineState)) {
	for i := range entries {
		e := &entries[i]
		if e.Recognised != nil {
			continue
		}
		if s.SampleEvery == 0 || (i+1)%s.SampleEvery != 0 {
			half(e, &states[i])
			continue
		}
		var took time.Duration
		if !first {
			took = states[i].Took
		}
		start := time.Now()
		half(e, &states[i])
		states[i].Took = took + time.Since(start)
	}
}

// turns lets the goroutines of a stream through one at a time, in the
// order of their batches.
type turns struct {
	mu   sync.Mutex
	cond *sync.Cond
	next uint64
}

// wait returns once the batches before seq have passed.
func (t *turns) wait(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cond == nil {
		t.cond = sync.NewCond(&t.mu)
	}
	for t.next != seq {
		t.cond.Wait()
	}
}

// pass lets the next batch through.
func (t *turns) pass() {
	t.mu.Lock()
	t.next++
	if t.cond != nil {
		t.cond.Broadcast()
	}
	t.mu.Unlock()
}

// newTestStream is the stream Test matches first's filter on with several
// workers, nil when it runs them apart or on one.
func newTestStream(first Matcher, workers int) *Stream {
	if s, ok := first.(Splitter); ok && s.Splits() && workers > 1 {
		return NewStream(s)
	}
	return nil
}

// streamed is a batch of lines a Stream matched, as a Matcher for
// testLines: Match returns the batch's results in turn.
type streamed struct {
	Matcher
	entries []ingest.Entry
	states  []LineState
	next    int
}

func (s *streamed) Match(*ingest.Entry, time.Time) (Failure, Outcome) {
	l := &s.states[s.next]
	s.next++
	return l.Failure, l.Outcome
}

// batch matches lines, batch seq of st, with m scanning them; s's slices
// are reused from batch to batch.
func (s *streamed) batch(st *Stream, seq int, m Splitter, lines []string, now time.Time) *streamed {
	s.Matcher, s.next = m, 0
	s.entries = s.entries[:0]
	for _, line := range lines {
		s.entries = append(s.entries, ingest.Entry{Message: line, ReadAt: now})
	}
	s.states = slices.Grow(s.states[:0], len(lines))[:len(lines)]
	st.Match(uint64(seq), m, s.entries, now, s.states)
	return s
}
