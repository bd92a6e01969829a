package match

import (
	"slices"
	"time"

	"github.com/logjail/logjail/ingest"
)

// testStream runs Test's batches through a Stream: a goroutine prepares
// them in line order between the reader and the workers.
type testStream struct {
	*Stream
	// workers is how many goroutines scan: as many prepared batches wait
	// for them, each a batch's worth of heap (fewer in flight, less of it).
	workers int
	// free holds the finished batches' states for the next batches, so
	// their arrays are reused. (A sync.Pool drops them at every
	// collection, and a run collects often.) It holds as many as can be
	// in flight (see newTestStream): one dropped is a batch's arrays
	// allocated again, and collected.
	free chan *staged
	// apart: the filter's Prepare keeps no state (match.PreparesApart),
	// so each worker reads its batches (fileRanges, for a regular file),
	// prepares and scans them on its own matcher, and only Finish runs
	// in line order, on the owner; there is no preparing goroutine.
	apart bool
}

// newTestStream is the stream Test matches first's filter on with several
// workers, nil when it runs them apart or on one. Its free list holds
// about as many batches as are in flight: up to 2*workers+2 read ahead
// (fileRanges), or 2*workers queued, workers prepared and one preparing
// (one reader).
func newTestStream(first Matcher, workers int) *testStream {
	if s, ok := first.(Splitter); ok && s.Splits() && workers > 1 && !LineByLine(first) {
		return &testStream{Stream: NewStream(s), workers: workers, free: make(chan *staged, 4*workers+4), apart: PreparesApart(s)}
	}
	return nil
}

// prepared prepares the batches from todo in order and hands them on (a
// filter whose Prepare keeps state).
func (ts *testStream) prepared(todo <-chan *testBatch, now time.Time) <-chan *testBatch {
	out := make(chan *testBatch, ts.workers)
	go func() {
		defer close(out)
		for b := range todo {
			b.load() // a no-op: such a Splitter's batches come from one reader
			sb := ts.stage(b)
			sb.fill(b.lines, now)
			ts.Prepare(sb.entries, 0, now, sb.states)
			out <- b
		}
	}()
	return out
}

// prepareOn reads batch b (its range of a file, if it is one) and
// prepares and scans it on m, the worker's matcher: for a filter whose
// Prepare keeps no state (apart). Each line is scanned right after it is
// prepared, while its state is in the core's cache (a batch's states do
// not stay there from one pass to the next), and its entry is made in
// turn: Test's entries hold nothing but the line and the read time, and
// carry no Recognised failure (Stream.each's cases).
func (ts *testStream) prepareOn(b *testBatch, m Splitter, now time.Time) {
	b.load()
	sb := ts.stage(b)
	var e ingest.Entry // one for the batch: a matcher keeps no entry
	for i, line := range b.lines {
		e = ingest.Entry{Message: line, ReadAt: now}
		m.Prepare(&e, now, &sb.states[i])
		m.Scan(&e, &sb.states[i])
	}
	sb.scanned = true
}

// stage gives b the states of its lines (and the array of its entries,
// for fill), from a finished batch's when one is free.
func (ts *testStream) stage(b *testBatch) *staged {
	var sb *staged
	select {
	case sb = <-ts.free:
	default:
		sb = &staged{}
	}
	sb.states = slices.Grow(sb.states[:0], len(b.lines))[:len(b.lines)]
	sb.entries, sb.scanned = sb.entries[:0], false
	b.staged = sb
	return sb
}

// match scans prepared batch b with m (unless prepareOn did); once
// finished in line order, the batch is counted and sent to done.
func (ts *testStream) match(b *testBatch, m Splitter, now time.Time, opts TestOptions, done chan<- *testBatch) {
	sb := b.staged
	if !sb.scanned {
		ts.Scan(m, sb.entries, sb.states)
	}
	sb.entries = sb.entries[:0] // testLines makes the entries it finishes
	ts.Scanned(uint64(b.seq), func() {
		// Each line is finished on the owner in place, its result read
		// from its state, not copied out (a Failure is some 200 bytes).
		// (Stream.Finish would be one more pass over the batch's states,
		// which do not stay in the core's cache; Test's entries carry no
		// Recognised failure, and its stream samples none.)
		testLines(b, func(i int, e *ingest.Entry) (*Failure, Outcome) {
			l := &sb.states[i]
			ts.owner.Finish(e, now, l)
			return &l.Failure, l.Outcome
		}, m.Dialect(), now, opts)
		b.staged = nil
		select {
		case ts.free <- sb:
		default: // more in flight than kept: let it go
		}
		done <- b
	})
}

// staged is a batch of lines on its way through a Stream: its lines'
// states, finished in place once scanned (see match).
type staged struct {
	entries []ingest.Entry // for the Stream, when not prepared apart
	states  []LineState
	scanned bool // prepareOn scanned it
}

// fill makes s's entries lines, reusing their array.
func (s *staged) fill(lines []string, now time.Time) {
	s.entries = slices.Grow(s.entries[:0], len(lines))
	for _, line := range lines {
		s.entries = append(s.entries, ingest.Entry{Message: line, ReadAt: now})
	}
}
