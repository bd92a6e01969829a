package tick

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestUntil(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name  string
		now   time.Time
		every time.Duration
		want  time.Duration
	}{
		{"mid-second", at("2026-12-07T08:00:00.25Z"), time.Second, 750 * time.Millisecond},
		{"on the tick: a whole period", at("2026-12-07T08:00:00Z"), time.Second, time.Second},
		{"just after", at("2026-12-07T08:00:00.000000001Z"), time.Second, time.Second - 1},
		{"2s: even seconds", at("2026-12-07T08:00:01.5Z"), 2 * time.Second, 500 * time.Millisecond},
		{"200ms", at("2026-12-07T08:00:01.45Z"), 200 * time.Millisecond, 150 * time.Millisecond},
		{"before 1970", at("1969-12-31T23:59:59.25Z"), time.Second, 750 * time.Millisecond},
		{"another zone, same instant", at("2026-12-07T09:00:00.25+01:00"), time.Second, 750 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Until(tc.now, tc.every); got != tc.want {
				t.Errorf("Until(%s, %s) = %s, want %s", tc.now, tc.every, got, tc.want)
			}
		})
	}
}

// Tickers made at different moments, of periods that divide one another,
// fire at the same instants: the multiples of their periods.
func TestTickersShareThePhase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(300 * time.Millisecond)
		a := New(time.Second)
		defer a.Stop()
		time.Sleep(400 * time.Millisecond)
		b := New(500 * time.Millisecond)
		defer b.Stop()
		var gotA, gotB []time.Time
		for len(gotA)+len(gotB) < 8 { // until 3s
			select {
			case now := <-a.C:
				gotA = append(gotA, now)
			case now := <-b.C:
				gotB = append(gotB, now)
			}
		}
		for _, now := range append(gotA, gotB...) {
			if into := now.UnixNano() % int64(500*time.Millisecond); into != 0 {
				t.Errorf("tick at %s, %s after a multiple of 500ms", now.Format(time.StampMilli), time.Duration(into))
			}
		}
		if len(gotA) != 3 || len(gotB) != 5 { // at 1s, 2s, 3s and 1s, 1.5s, … 3s
			t.Errorf("by 3s the tickers ticked at %v and %v, want 3 and 5 times", gotA, gotB)
		}
	})
}

// A slow receiver misses ticks rather than queueing them; after Stop no
// tick comes.
func TestSlowReceiverAndStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tk := New(time.Second)
		time.Sleep(5500 * time.Millisecond)
		<-tk.C
		select {
		case now := <-tk.C:
			t.Fatalf("a second tick queued (%s)", now)
		default:
		}
		tk.Stop()
		time.Sleep(3 * time.Second)
		select {
		case now := <-tk.C:
			t.Fatalf("a tick after Stop (%s)", now)
		default:
		}
	})
}
