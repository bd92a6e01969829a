package match

import (
	"slices"
	"sync"
	"time"

	"github.com/logjail/logjail/ingest"
)

// testStream runs Test's batches through a Stream: a goroutine prepares
// them in line order between the reader and the workers.
type testStream struct {
	*Stream
	staged sync.Pool // of *staged, a batch's worth each
}

// newTestStream is the stream Test matches first's filter on with several
// workers, nil when it runs them apart or on one.
func newTestStream(first Matcher, workers int) *testStream {
	if s, ok := first.(Splitter); ok && s.Splits() && workers > 1 {
		return &testStream{Stream: NewStream(s)}
	}
	return nil
}

// prepared prepares the batches from todo in order and hands them on.
func (ts *testStream) prepared(todo <-chan *testBatch, now time.Time) <-chan *testBatch {
	out := make(chan *testBatch, cap(todo))
	go func() {
		defer close(out)
		for b := range todo {
			b.load() // a no-op: a Splitter's batches come from one reader
			sb, _ := ts.staged.Get().(*staged)
			if sb == nil {
				sb = &staged{}
			}
			sb.fill(b.lines, now)
			ts.Prepare(sb.entries, now, sb.states)
			b.staged = sb
			out <- b
		}
	}()
	return out
}

// match scans prepared batch b with m; once finished in line order, the
// batch is counted and sent to done.
func (ts *testStream) match(b *testBatch, m Splitter, now time.Time, opts TestOptions, done chan<- *testBatch) {
	sb := b.staged
	ts.Scan(m, sb.entries, sb.states)
	ts.Scanned(uint64(b.seq), func() {
		ts.Finish(sb.entries, now, sb.states)
		sb.Matcher, sb.next = m, 0
		testLines(b, sb, now, opts)
		b.staged = nil
		ts.staged.Put(sb)
		done <- b
	})
}

// staged is a batch of lines on its way through a Stream, and once
// finished a Matcher for testLines: Match returns the results in turn.
type staged struct {
	Matcher
	entries []ingest.Entry
	states  []LineState
	next    int
}

func (s *staged) Match(*ingest.Entry, time.Time) (Failure, Outcome) {
	l := &s.states[s.next]
	s.next++
	return l.Failure, l.Outcome
}

// fill makes s's entries lines, reusing its slices.
func (s *staged) fill(lines []string, now time.Time) {
	s.entries = s.entries[:0]
	for _, line := range lines {
		s.entries = append(s.entries, ingest.Entry{Message: line, ReadAt: now})
	}
	s.states = slices.Grow(s.states[:0], len(lines))[:len(lines)]
}
