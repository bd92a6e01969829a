package nats

import (
	"strings"
	"testing"

	"github.com/logjail/logjail/ingest"
)

// The connection's words are the reason; the state maps them: waiting
// before the first connection, error while the server cannot be reached
// or when Run failed, reading while connected.
func TestHealth(t *testing.T) {
	port, url := unusedPort(t)
	s := newSource(t, Config{URL: url, Subject: "logs.sshd"})
	if st := s.Stats(); st.State != ingest.StateWaiting || !st.LastEntry.IsZero() {
		t.Errorf("before Run: %q (%s), last entry %v", st.State, st.Reason, st.LastEntry)
	}
	out := make(chan ingest.Entry, 4)
	start(t, s, out)
	st := waitStats(t, s, func(st ingest.Stats) bool { return st.State == ingest.StateError })
	if !strings.HasPrefix(st.Reason, "reconnecting: ") || len(st.Reason) <= len("reconnecting: ") {
		t.Errorf("server away: reason %q, want reconnecting with the error", st.Reason)
	}

	startServer(t, port, "", nil)
	st = waitStats(t, s, func(st ingest.Stats) bool { return st.State == ingest.StateReading })
	if st.Reason != "connected" || !st.LastEntry.IsZero() {
		t.Errorf("connected: reason %q, last entry %v", st.Reason, st.LastEntry)
	}
	// The subscription is renewed on the server a moment after the
	// connection: publish until a message arrives.
	pub := publisher(t, url)
	e := publishUntilReceived(t, pub, out, "logs.sshd", func(int) string { return "hello" })
	waitStats(t, s, func(st ingest.Stats) bool { return st.LastEntry.Equal(e.ReadAt) })
}

// A Run that fails leaves the source in error, with Run's error.
func TestHealthRunFailed(t *testing.T) {
	s, r, _ := runMissingStream(t)
	if st := s.Stats(); st.State != ingest.StateError || st.Reason != r.err.Error() {
		t.Errorf("after Run failed: %q (%s), want error (%v)", st.State, st.Reason, r.err)
	}
}
