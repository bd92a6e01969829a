package bans

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
)

func TestSourceDeliversSubscribedPipelines(t *testing.T) {
	bus := NewBus()
	src, err := New(bus, []string{"sshd", "web"})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan ingest.Entry, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	// Wait for the subscription.
	testkit.WaitFor(t, 5*time.Second, func() error {
		bus.mu.Lock()
		n := len(bus.subs)
		bus.mu.Unlock()
		return testkit.Check(n == 1, "%d subscriptions, want 1", n)
	})
	at := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
	bus.Publish(Event{Pipeline: "sshd", Prefix: netip.MustParsePrefix("203.0.113.7/32"), Time: at})
	bus.Publish(Event{Pipeline: "other", Prefix: netip.MustParsePrefix("203.0.113.8/32"), Time: at})
	bus.Publish(Event{Pipeline: "web", Prefix: netip.MustParsePrefix("2001:db8::/64"), Time: at})
	// Each ban is a recognised failure of its address (a prefix ban's
	// first address), for the pipeline to count without a filter.
	for _, want := range []struct{ line, addr string }{
		{"sshd banned 203.0.113.7", "203.0.113.7"},
		{"web banned 2001:db8::/64", "2001:db8::"},
	} {
		select {
		case e := <-out:
			rec := e.Recognised
			if e.Message != want.line || !e.Time.Equal(at) || rec == nil || rec.Addr.String() != want.addr || rec.Fleet {
				t.Errorf("got %q at %v recognised %+v, want %q of %s", e.Message, e.Time, rec, want.line, want.addr)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no entry for %q", want.line)
		}
	}
	select {
	case e := <-out:
		t.Fatalf("unexpected entry %q", e.Message)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := src.Stats(); s.Read != 2 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestPublishNeverBlocks(t *testing.T) {
	bus := NewBus()
	src, _ := New(bus, []string{"sshd"})
	bus.subs[src] = struct{}{} // subscribed, never read
	for range eventBuffer + 10 {
		bus.Publish(Event{Pipeline: "sshd", Prefix: netip.MustParsePrefix("203.0.113.7/32")})
	}
	if got := src.Stats().Dropped; got != 10 {
		t.Fatalf("dropped %d, want 10", got)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(NewBus(), nil); err == nil {
		t.Error("no pipelines accepted")
	}
	if _, err := New(nil, []string{"sshd"}); err == nil {
		t.Error("no bus accepted")
	}
}
