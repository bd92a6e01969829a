// Package tick gives logjail's periodic work one shared phase. A Ticker
// fires at the multiples of its period counted from the Unix epoch, so
// every Ticker of a period (and of its divisors) fires at the same
// instants: an idle daemon with twenty pipelines and sources wakes once a
// second for all their polls and checks, rather than forty times at forty
// phases. Each wake-up of an idle process costs far more than the little
// work it does (the scheduler, a thread woken on another core).
package tick

import (
	"sync"
	"time"
)

// Ticker is time.Ticker on the shared phase: it sends the time on C at
// each multiple of its period, dropping ticks a slow receiver misses.
type Ticker struct {
	// C receives the ticks.
	C <-chan time.Time

	c     chan time.Time
	every time.Duration
	mu    sync.Mutex
	timer *time.Timer
	done  bool
}

// New returns a Ticker of period every (> 0). Its first tick comes at the
// next multiple of every, which may be sooner than every.
func New(every time.Duration) *Ticker {
	if every <= 0 {
		panic("tick: non-positive period")
	}
	c := make(chan time.Time, 1)
	t := &Ticker{C: c, c: c, every: every}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.timer = time.AfterFunc(Until(time.Now(), every), t.fire)
	return t
}

func (t *Ticker) fire() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	now := time.Now()
	select {
	case t.c <- now:
	default: // the receiver has not taken the last tick yet
	}
	t.timer.Reset(Until(now, t.every))
}

// Stop turns the Ticker off; no tick is sent after it returns (one may
// wait in C).
func (t *Ticker) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
	t.timer.Stop()
}

// Until is the time from now to the next multiple of every since the
// Unix epoch: in (0, every].
func Until(now time.Time, every time.Duration) time.Duration {
	into := now.UnixNano() % int64(every)
	if into < 0 { // before 1970
		into += int64(every)
	}
	return every - time.Duration(into)
}
