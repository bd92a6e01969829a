package daemon

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/filter"
	"github.com/logjail/logjail/pipelines"
)

// The match stage. A pipeline's entries arrive in batches; a dispatcher
// hands batch k to worker k mod n, each worker matches its batches with a
// matcher of its own, and the runner's goroutine takes the results back
// from worker k mod n again: in the order the sources delivered them, so
// every address sees its failures in log order and the tracker, the store
// and the enforcers stay the runner goroutine's alone (no locks).
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

var jobs = sync.Pool{New: func() any { return new(job) }}

// release recycles j and its batch once applied.
func (j *job) release() {
	ingest.Recycle(j.entries)
	clear(j.hits)
	*j = job{hits: j.hits[:0], timeouts: j.timeouts[:0], samples: j.samples[:0]}
	jobs.Put(j)
}

// worker matches batches with its own matcher (a matcher is owned by one
// goroutine: counters, a date cache).
type worker struct {
	m   match.Matcher
	now func() time.Time
	in  chan *job
	out chan *job
	// seq counts the entries matched, for sampling; timeouts is the
	// matcher's timeout count at the last look.
	seq, timeouts uint64
}

func (w *worker) run() {
	defer close(w.out)
	for j := range w.in {
		w.match(j, w.now())
		w.out <- j
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
		if w.seq++; w.seq%matchSampleEvery == 0 {
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
// taken back in.
type matchStage struct {
	workers []*worker
	// next is the worker whose result comes next; the runner goroutine's.
	next int
	// queued counts the entries handed to the workers and not applied
	// yet, for the queue depth metric.
	queued atomic.Int64
}

// newMatchStage builds the workers of st: n (a worker per core) when the
// filter's matchers classify each line on its own, else one. st's matcher
// is the first worker's.
func newMatchStage(st *pipelines.Stages, now func() time.Time, n int) *matchStage {
	ms := []match.Matcher{st.Matcher}
	if n > 1 && lineByLine(st) {
		for range n - 1 {
			m, err := filter.Compile(st.Spec.Name, st.Spec.Plan.Rules)
			if err != nil {
				break // compiled once already: cannot happen; fewer workers then
			}
			ms = append(ms, m)
		}
	}
	s := &matchStage{}
	for _, m := range ms {
		s.workers = append(s.workers, &worker{m: m, now: now, in: make(chan *job, 2), out: make(chan *job, 2)})
	}
	return s
}

// lineByLine reports whether st's matchers classify each line on its own,
// so that several can share a stream and agree with one reading it all:
// logjail's own filters do (a matcher keeps counters and a date cache
// only). fail2ban's keep lines and connections across lines (maxlines,
// mlfid) and order their date templates by what they saw: one matcher
// reads every line.
func lineByLine(st *pipelines.Stages) bool {
	return st.Spec != nil && st.Spec.Plan != nil && st.Spec.Plan.Rules.Dialect == match.DialectLogjail
}

// start runs the workers and the dispatcher, which hands them the batches
// from in until in is closed; each worker's results channel is closed once
// it has matched all it was given.
func (s *matchStage) start(in <-chan []ingest.Entry) {
	for _, w := range s.workers {
		go w.run()
	}
	go func() {
		k := 0
		for b := range in {
			s.queued.Add(int64(len(b)))
			j := jobs.Get().(*job)
			j.entries = b
			s.workers[k].in <- j
			k = (k + 1) % len(s.workers)
		}
		for _, w := range s.workers {
			close(w.in)
		}
	}()
}

// results is where the next batch in order comes out, matched; closed
// when no batch is left after the stage's input closed.
func (s *matchStage) results() <-chan *job { return s.workers[s.next].out }

// taken moves on to the next worker once j, from results, is applied.
func (s *matchStage) taken(j *job) {
	s.queued.Add(-int64(len(j.entries)))
	s.next = (s.next + 1) % len(s.workers)
	j.release()
}
