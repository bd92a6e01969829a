package bans

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
)

// A bans source waits until it runs, then reads the bus (bans come when
// they come); the last entry's time follows the deliveries.
func TestHealth(t *testing.T) {
	bus := NewBus()
	src, err := New(bus, []string{"sshd"})
	if err != nil {
		t.Fatal(err)
	}
	if st := src.Stats(); st.State != ingest.StateWaiting || !st.LastEntry.IsZero() {
		t.Errorf("before Run: %q (%s), last entry %v", st.State, st.Reason, st.LastEntry)
	}
	out := make(chan ingest.Entry, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	testkit.WaitFor(t, 5*time.Second, func() error {
		st := src.Stats().State
		return testkit.Check(st == ingest.StateReading, "state %q, want reading", st)
	})
	if st := src.Stats(); !st.LastEntry.IsZero() {
		t.Errorf("last entry %v before any ban", st.LastEntry)
	}
	bus.Publish(Event{Pipeline: "sshd", Prefix: netip.MustParsePrefix("203.0.113.7/32"), Time: time.Now()})
	e := <-out
	testkit.WaitFor(t, 5*time.Second, func() error { // stored just after the send
		last := src.Stats().LastEntry
		return testkit.Check(last.Equal(e.ReadAt), "last entry %v, want %v", last, e.ReadAt)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := src.Stats(); st.State != ingest.StateWaiting || st.Reason != "stopped" {
		t.Errorf("after Run: %q (%s)", st.State, st.Reason)
	}
}
