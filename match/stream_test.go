package match

import (
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
)

// halves is a Splitter whose halves do nothing but reset the state.
type halves struct{ Matcher }

func (halves) Splits() bool                                         { return true }
func (halves) Prepare(e *ingest.Entry, now time.Time, l *LineState) { *l = LineState{} }
func (halves) Scan(e *ingest.Entry, l *LineState)                   {}
func (halves) Finish(e *ingest.Entry, now time.Time, l *LineState)  {}

// TestStreamTimesByPlace: a Stream times the entries whose place in the
// stream is a multiple of SampleEvery, however the stream is cut into
// batches and whichever half prepares them; the later halves add to the
// time of those entries only.
func TestStreamTimesByPlace(t *testing.T) {
	for _, c := range []struct {
		name  string
		cuts  []int // batch ends
		apart bool
	}{
		{"one batch", []int{10}, false},
		{"short batches", []int{3, 7, 10}, false},
		{"one per batch", []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, true},
		{"apart", []int{3, 7, 10}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := NewStream(halves{})
			s.SampleEvery = 4
			entries := make([]ingest.Entry, 10)
			entries[7].Recognised = &ingest.Recognised{} // a place, never timed
			states := make([]LineState, 10)
			for i := range states {
				states[i].Took = time.Hour // a reused state's
			}
			now := time.Now()
			lo := 0
			for _, hi := range c.cuts {
				if c.apart {
					s.PrepareOn(halves{}, entries[lo:hi], uint64(lo), now, states[lo:hi])
				} else {
					s.Prepare(entries[lo:hi], uint64(lo), now, states[lo:hi])
				}
				s.Scan(halves{}, entries[lo:hi], states[lo:hi])
				s.Finish(entries[lo:hi], now, states[lo:hi])
				lo = hi
			}
			for i, l := range states {
				timed := i == 3 // places 4 and 8; 8 is recognised
				if (l.Took > 0) != timed || l.Took >= time.Hour {
					t.Errorf("entry %d: Took %v, timed %v", i, l.Took, timed)
				}
			}
		})
	}
}
