package daemon

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/logjail/logjail/ingest"
)

// counts are a runner's counters that status and the metrics show. They
// outlive the runner: a reload or a stop and start hands them to the
// next (Daemon.carried), as the tracker carries its totals over.
type counts struct {
	matched, missed, ignored, badAddr uint64
	shared                            uint64 // failures other nodes of the fleet recognised
	commitErrors                      uint64 // failed commits (disk full, I/O errors)
	unbans                            uint64 // unban decisions applied (expired, manual, fleet)
	// timedOut counts lines whose outcome was match.Timeout; regexTimeouts
	// the matcher's timed-out regex runs.
	timedOut, regexTimeouts uint64
	// connEvicted counts the connections the filter's table dropped for
	// room (noteEvicted).
	connEvicted uint64
}

// carriedCounts holds the counts of ended runners (a reload, a stop) until
// the pipeline's next runner takes them.
type carriedCounts struct {
	mu sync.Mutex
	m  map[string]counts
}

// put keeps r's counts; r has ended (nothing else changes them).
func (c *carriedCounts) put(r *runner) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]counts{}
	}
	c.m[r.name] = r.counts
}

// take returns and forgets the counts kept for pipeline name (zero when
// none: its first start).
func (c *carriedCounts) take(name string) counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.m[name]
	delete(c.m, name)
	return n
}

// keepOnly forgets the counts of pipelines not named (removed by a
// reload: one added again later starts from zero, as its windows do).
func (c *carriedCounts) keepOnly(names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	maps.DeleteFunc(c.m, func(name string, _ counts) bool { return !slices.Contains(names, name) })
}

// timeoutLogEvery rate-limits the regex timeout warnings: a line crafted
// to make a regex time out can be sent thousands of times a second.
const timeoutLogEvery = time.Minute

// noteTimeouts counts and logs (rate-limited) the regex timeouts a line
// caused: the line may hold a failure nobody saw.
func (r *runner) noteTimeouts(t timeoutNote, e *ingest.Entry, now time.Time) {
	r.regexTimeouts += t.n
	if !r.lastTimeoutLog.IsZero() && now.Sub(r.lastTimeoutLog) < timeoutLogEvery {
		r.unloggedTimeouts += t.n
		return
	}
	r.log.Warn("a regex ran out of time on a line; a failure on it may go unseen",
		"regex", t.site.String(), "line", excerpt(e.Message, 200),
		"timeouts", r.regexTimeouts, "unlogged_since_last_warning", r.unloggedTimeouts)
	r.lastTimeoutLog, r.unloggedTimeouts = now, 0
}

// noteEvicted counts and logs (rate-limited, as the timeouts) the
// connections the filter's table dropped for room: a later line of one
// that names no address is not counted.
func (r *runner) noteEvicted(n uint64, now time.Time) {
	r.connEvicted += n
	if !r.lastEvictedLog.IsZero() && now.Sub(r.lastEvictedLog) < timeoutLogEvery {
		return
	}
	r.log.Warn("the filter's connection table was full: the oldest connections were dropped; a failure on a later line of theirs may go unseen",
		"connections_evicted", r.connEvicted)
	r.lastEvictedLog = now
}
