package ingest

import (
	"testing"
	"time"
)

func TestHealth(t *testing.T) {
	var h Health
	var st Stats
	h.Fill(&st)
	if st.State != StateWaiting || st.Reason != "not started" || !st.LastEntry.IsZero() {
		t.Errorf("zero Health: %+v", st)
	}
	for _, tc := range []struct {
		name    string
		state   State
		reason  string
		changed bool
	}{
		{"first state", StateUnavailable, "no journal files in /x", true},
		{"same again", StateUnavailable, "no journal files in /x", false},
		{"new reason", StateUnavailable, "no journal files in /y", true},
		{"new state", StateReading, "", true},
	} {
		if got := h.Set(tc.state, tc.reason); got != tc.changed {
			t.Errorf("%s: Set reported change %v, want %v", tc.name, got, tc.changed)
		}
		if s, r := h.State(); s != tc.state || r != tc.reason {
			t.Errorf("%s: State() = %q, %q", tc.name, s, r)
		}
	}
	at := time.Date(2026, 12, 7, 3, 0, 0, 123, time.UTC)
	h.Entry(at)
	h.Fill(&st)
	if !st.LastEntry.Equal(at) || st.State != StateReading {
		t.Errorf("after an entry: %+v", st)
	}
	for _, s := range States {
		if s.Bad() != (s == StateUnavailable || s == StateError) {
			t.Errorf("%s.Bad() = %v", s, s.Bad())
		}
	}
}
