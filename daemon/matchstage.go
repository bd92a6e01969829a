package daemon

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/filter"
	"github.com/logjail/logjail/pipelines"
)

// The match stage. A pipeline's entries arrive in batches; workers match
// them, each with a matcher of its own, and the runner's goroutine applies
// the results in the order the sources delivered them, so every address
// sees its failures in log order and the tracker, the store and the
// enforcers stay the runner goroutine's alone (no locks).
//
// A batch is applied whole between two commits, so the positions stored
// are always those of the last entries applied, with the windows they
// produced.

// maxMatchWorkers bounds the workers of one pipeline.
const maxMatchWorkers = 8

// job is one batch on its way through the match stage. The worker fills
// hits, timeouts and samples; the runner goroutine reads them.
type job struct {
	entries []ingest.Entry
	// hits are the entries that were no plain miss, in order: outcomes
	// other than Miss, and the entries carrying a Recognised failure,
	// which are not matched.
	hits []hit
	// timeouts are the regex timeouts lines caused, in order.
	timeouts []timeoutNote
	// samples are the sampled match durations (see matchSampleEvery).
	samples []time.Duration
	// evicted counts the connections the filter's table dropped for room
	// while matching the job (see native.Matcher.Evicted).
	evicted uint64
	// done hears once the worker has matched the job.
	done chan struct{}
	// seq, now and states are the job's in a match.Stream: its number,
	// the time it is matched at and its entries' states.
	seq    uint64
	now    time.Time
	states []match.LineState
	// first is the stage's count of entries before the job's: the stage
	// times the entries whose count is a multiple of matchSampleEvery,
	// whichever worker matches them (a line-by-line worker here, a split
	// filter's match.Stream by the same rule).
	first uint64
}

type hit struct {
	at         int // index in entries
	outcome    match.Outcome
	recognised bool
	f          match.Failure
}

// timeoutNote tells that entries[at] made n regex runs time out, the last
// in site.
type timeoutNote struct {
	at   int
	n    uint64
	site match.RegexSite
}

var jobs = sync.Pool{New: func() any { return &job{done: make(chan struct{}, 1)} }}

// release recycles j and its batch once applied.
func (j *job) release() {
	ingest.Recycle(j.entries)
	clear(j.hits)
	clear(j.states) // what they hold of the batch
	*j = job{hits: j.hits[:0], timeouts: j.timeouts[:0], samples: j.samples[:0], done: j.done, states: j.states[:0]}
	jobs.Put(j)
}

// worker matches batches with its own matcher (a matcher is owned by one
// goroutine: counters, a date cache).
type worker struct {
	m   match.Matcher
	now func() time.Time
	// stream, when set, is the stage's: the worker scans the jobs it
	// takes, prepared by the dispatcher (or by itself, when apart), and
	// finishes them in turn.
	stream *match.Stream
	apart  bool
	// timeouts is the matcher's timeout count at the last look.
	timeouts uint64
	// evicted reads the count of connections dropped for room by the
	// matcher that tracks them (the stream's owner, whose Finish runs one
	// at a time, or the worker's own); nil for a filter that tracks none.
	evicted func() uint64
}

// evictedBy returns m's count of connections dropped for room, nil when m
// tracks none.
func evictedBy(m match.Matcher) func() uint64 {
	if e, ok := m.(interface{ Evicted() uint64 }); ok {
		return e.Evicted
	}
	return nil
}

// countEvicted runs matching and adds the connections it evicted to j.
func (w *worker) countEvicted(j *job, matching func()) {
	if w.evicted == nil {
		matching()
		return
	}
	before := w.evicted()
	matching()
	j.evicted += w.evicted() - before
}

// run matches the jobs of work until it is closed, telling each done.
func (w *worker) run(work <-chan *job) {
	for j := range work {
		if w.stream != nil {
			w.scan(j) // done once finished
			continue
		}
		w.countEvicted(j, func() { w.match(j, w.now()) })
		j.done <- struct{}{}
	}
}

// scan scans j, prepared, and once it is j's turn finishes it and what
// other workers scanned after it, telling each done.
func (w *worker) scan(j *job) {
	if w.apart {
		w.stream.PrepareOn(w.m.(match.Splitter), j.entries, j.first, j.now, j.states)
	}
	w.stream.Scan(w.m.(match.Splitter), j.entries, j.states)
	w.stream.Scanned(j.seq, func() {
		w.countEvicted(j, func() { w.stream.Finish(j.entries, j.now, j.states) })
		j.collect()
		j.done <- struct{}{}
	})
}

// collect gathers the hits, timeouts and samples of j's states.
func (j *job) collect() {
	for i := range j.entries {
		if j.entries[i].Recognised != nil {
			j.hits = append(j.hits, hit{at: i, recognised: true})
			continue
		}
		l := &j.states[i]
		if n := l.Timeouts(); n > 0 {
			j.timeouts = append(j.timeouts, timeoutNote{at: i, n: n, site: l.LastTimeout()})
		}
		if l.Took > 0 {
			j.samples = append(j.samples, l.Took)
		}
		if l.Outcome != match.Miss {
			j.hits = append(j.hits, hit{at: i, outcome: l.Outcome, f: l.Failure})
		}
	}
}

// match classifies every entry of j.
func (w *worker) match(j *job, now time.Time) {
	for i := range j.entries {
		e := &j.entries[i]
		if e.Recognised != nil {
			j.hits = append(j.hits, hit{at: i, recognised: true})
			continue
		}
		var f match.Failure
		var out match.Outcome
		if (j.first+uint64(i)+1)%matchSampleEvery == 0 {
			start := time.Now()
			f, out = w.m.Match(e, now)
			j.samples = append(j.samples, time.Since(start))
		} else {
			f, out = w.m.Match(e, now)
		}
		if n := w.m.Timeouts(); n != w.timeouts {
			j.timeouts = append(j.timeouts, timeoutNote{at: i, n: n - w.timeouts, site: w.m.LastTimeout()})
			w.timeouts = n
		}
		if out != match.Miss {
			j.hits = append(j.hits, hit{at: i, outcome: out, f: f})
		}
	}
}

// matchStage is a pipeline's workers and the order their results are
// applied in. A dispatcher puts each batch, as a job, on work, where the
// first free worker takes it, and on order, where the runner goroutine
// takes the jobs in turn and waits for each to be matched. Workers start
// on demand, up to max: a second one only once a job waits for a worker,
// so an idle pipeline holds one matcher.
type matchStage struct {
	work, order chan *job
	first       match.Matcher
	// more compiles the matcher of another worker; nil when the filter
	// allows one worker only.
	more func() (match.Matcher, error)
	// stream, when set, splits a stateful filter's matching (see
	// match.Splitter): the dispatcher prepares each job in order (seq),
	// or, when the filter's Prepare keeps no state (apart:
	// match.PreparesApart, logjail's tracking connections), the worker
	// that scans it does, and only Finish runs in order.
	stream *match.Stream
	apart  bool
	seq    uint64
	// entries counts the entries dispatched (job.first).
	entries uint64
	max     int
	now     func() time.Time
	// started counts the workers (the dispatcher's); initial are
	// started at once.
	started, initial int
	// queued counts the entries handed to the workers and not applied
	// yet, for the queue depth metric.
	queued atomic.Int64
}

// newMatchStage builds the stage of st: up to n workers (a worker per
// core) when the filter's matchers classify each line on its own or split
// their matching (match.Splitter), else one. st's matcher is the first
// worker's, and a split filter's state between lines.
func newMatchStage(st *pipelines.Stages, now func() time.Time, n int) *matchStage {
	s := &matchStage{first: st.Matcher, max: 1, now: now, initial: 1}
	if sp, ok := st.Matcher.(match.Splitter); ok && sp.Splits() && n > 1 && hasRules(st) && !lineByLine(st) {
		s.stream = match.NewStream(sp)
		s.stream.SampleEvery = matchSampleEvery
		s.apart = match.PreparesApart(sp)
	}
	if n > 1 && (lineByLine(st) || s.stream != nil) {
		s.max = n
		s.more = func() (match.Matcher, error) { return filter.Compile(st.Spec.Name, st.Spec.Plan.Rules) }
	}
	s.work, s.order = make(chan *job, 2*s.max), make(chan *job, 2*s.max)
	return s
}

// lineByLine reports whether st's matchers classify each line on its own,
// so that several can share a stream and agree with one reading it all
// (match.LineByLine): logjail's own filters do (a matcher keeps counters
// and a date cache only), but for those that keep the last date for lines
// without one (undated: last_date), track connections (<F-MLFID>) or read
// several lines (maxlines). Those and fail2ban's (which keep the last date
// and order their date templates by what they saw) split
// (match.Splitter) with maxlines 1; with more one matcher reads every line.
func lineByLine(st *pipelines.Stages) bool {
	return hasRules(st) && st.Matcher != nil && match.LineByLine(st.Matcher)
}

// hasRules reports whether st's rules are known, to compile more matchers.
func hasRules(st *pipelines.Stages) bool { return st.Spec != nil && st.Spec.Plan != nil }

// start runs the dispatcher, which hands the batches from in to the
// workers until in is closed, and closes order after the last.
func (s *matchStage) start(in <-chan []ingest.Entry) {
	for s.started < s.initial {
		s.grow()
	}
	go func() {
		for b := range in {
			s.queued.Add(int64(len(b)))
			j := jobs.Get().(*job)
			j.entries = b
			j.first, s.entries = s.entries, s.entries+uint64(len(b))
			if s.stream != nil {
				s.prepare(j)
			}
			if len(s.work) > 0 && s.started < s.max {
				s.grow() // a job is waiting for a worker
			}
			s.work <- j
			s.order <- j
		}
		close(s.work)
		close(s.order)
	}()
}

// prepare numbers j, the next job, and runs the ordered first half of
// the stream on it (unless the worker prepares it: apart).
func (s *matchStage) prepare(j *job) {
	j.seq, j.now = s.seq, s.now()
	s.seq++
	j.states = slices.Grow(j.states[:0], len(j.entries))[:len(j.entries)]
	if !s.apart {
		s.stream.Prepare(j.entries, j.first, j.now, j.states)
	}
}

// grow starts a worker, with st's matcher for the first and a matcher of
// its own for each other.
func (s *matchStage) grow() {
	m := s.first
	if s.started > 0 {
		var err error
		if m, err = s.more(); err != nil {
			s.max = s.started // compiled once already: cannot happen; fewer workers then
			return
		}
	}
	s.started++
	w := &worker{m: m, now: s.now, stream: s.stream, apart: s.apart, evicted: evictedBy(m)}
	if s.stream != nil {
		w.evicted = evictedBy(s.first) // Finish runs on the owner
	}
	go w.run(s.work)
}

// next waits until j, taken from order, is matched.
func (s *matchStage) next(j *job) { <-j.done }

// taken is told that j is applied: it is recycled.
func (s *matchStage) taken(j *job) {
	s.queued.Add(-int64(len(j.entries)))
	j.release()
}
