package ingest

import (
	"sync/atomic"
	"time"
)

// State is a source's health, as status and metrics show it.
type State string

// The states of a source. Every source is in exactly one; each says what an
// operator should do about it.
const (
	// StateReading: the source is open on its input and follows it; what
	// is written there is delivered (a file is open, the journal has
	// journal files, a syslog listener has heard from a sender, NATS is
	// connected). Nothing to do.
	StateReading State = "reading"
	// StateWaiting: the source works but has nothing to follow yet, and
	// that is expected to change by itself: a log file not created yet
	// (its writer creates it with its first line), a syslog listener bound
	// but with no sender yet, a NATS source making its first connection,
	// a source not started. Check it if it lasts.
	StateWaiting State = "waiting"
	// StateUnavailable: what the source reads does not exist on this host
	// as configured, and retrying will not make it appear: no journal
	// files for the journal, namespace, directory or files configured, or
	// journald support missing from this build. The source keeps looking
	// and reads from the start of a journal that appears.
	StateUnavailable State = "unavailable"
	// StateError: the source should be able to read but fails: a file it
	// may not open or read, a socket it cannot bind, a NATS server it
	// cannot reach. Reason holds the last error; it is retried.
	StateError State = "error"
)

// States lists every state, for exporters.
var States = []State{StateReading, StateWaiting, StateUnavailable, StateError}

// Bad reports whether s needs an operator: unavailable or error.
func (s State) Bad() bool { return s == StateUnavailable || s == StateError }

// Health holds a source's state, its reason and the time of its last
// entry. It is safe for concurrent use, and cheap on the hot path (one
// atomic store per entry). The zero Health is waiting, "not started".
type Health struct {
	cur  atomic.Pointer[health]
	last atomic.Int64 // unix nanoseconds of the last entry; 0: none yet
}

type health struct {
	state  State
	reason string
}

// Set changes the state and its reason; it reports whether either changed.
func (h *Health) Set(s State, reason string) bool {
	if c := h.cur.Load(); c != nil && c.state == s && c.reason == reason {
		return false
	}
	h.cur.Store(&health{s, reason})
	return true
}

// State returns the state and its reason.
func (h *Health) State() (State, string) {
	c := h.cur.Load()
	if c == nil {
		return StateWaiting, "not started"
	}
	return c.state, c.reason
}

// Entry records that an entry was delivered at t.
func (h *Health) Entry(t time.Time) { h.last.Store(t.UnixNano()) }

// LastEntry returns when the last entry was delivered; zero if none was.
func (h *Health) LastEntry() time.Time {
	if n := h.last.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Fill copies the state, reason and last entry time into st.
func (h *Health) Fill(st *Stats) {
	st.State, st.Reason = h.State()
	st.LastEntry = h.LastEntry()
}
