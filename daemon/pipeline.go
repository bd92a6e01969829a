package daemon

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/logjail/logjail/daemon/fleet"
	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/enforce/mail"
	enfnats "github.com/logjail/logjail/enforce/nats"
	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/ingest/tick"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
	"github.com/logjail/logjail/state/store"
)

const (
	// queueSize is how many entries a source that delivers them one by
	// one may have waiting (see feed).
	queueSize = 4096
	// commitDelay bounds how long a processed entry's position waits for
	// its commit: commits are grouped, at most one per delay, so a burst
	// costs a few fsyncs and a quiet log is committed almost at once.
	commitDelay = 50 * time.Millisecond
	// busyCommitDelay is commitDelay while entries keep waiting (a
	// backlog, a flood): a commit writes every window and line that
	// changed, milliseconds each, and fewer of them let the backlog go
	// faster; nothing is lost by it, a crash re-reads a little more.
	busyCommitDelay = 250 * time.Millisecond
	tickInterval    = time.Second
	// enforceBatch and enforceEvery bound how long a decision waits for
	// its batch while entries keep coming (see run).
	// A ban carries at most maxLinesPerBan lines (its last failures');
	// rememberedLines lines (of at most 512 bytes: 25 MiB at worst) are
	// kept for the most recently failing prefixes.
	maxLinesPerBan  = 50
	rememberedLines = 50_000
	enforceBatch    = 256
	enforceEvery    = 1024
)

// runner runs one pipeline. Its goroutine owns the matcher and the tracker;
// the control API reaches them only through ctl, so the hot path takes no
// locks.
type runner struct {
	name     string
	stages   *pipelines.Stages
	enforcer enforce.Enforcer
	// staging and acting are enforcer split (see splitEnforcer): the
	// first applied on the runner goroutine, the second by enforcing.
	staging, acting enforce.Enforcer
	enforcing       *enforceQueue
	// outboxes stage messages (ban events, fleet failures) that are
	// written with each commit.
	outboxes []enforce.Outboxed
	// lines remembers recent failure lines for the bans' Lines.
	lines *recentLines
	// evidence keeps the lines of the bans decided, for explain;
	// regexSums are the failregexes' checksums, for the lines' marks.
	evidence  *banEvidence
	regexSums []uint32
	// storedTotals are the tracker's totals as last handed to a commit
	// (stored, or kept in the batch for the next one).
	storedTotals state.Totals
	// share is the pipeline's side of the fleet; nil when not shared.
	share *fleet.Share
	store *store.Store
	scope store.ScopedPositions
	log   *slog.Logger
	now   func() time.Time

	// in carries the sources' batches to the match stage; queues are
	// the queues of the sources that deliver entries one by one (nil for
	// a batch source), in the order of stages.Sources.
	in     chan []ingest.Entry
	queues []chan ingest.Entry
	stage  *matchStage
	ctl    chan func()
	// onBan, when set, hears every ban this pipeline decides (the ban bus
	// that feeds recidive pipelines).
	onBan func(state.Decision)
	// cancel stops the runner; done is closed when it has stopped.
	cancel context.CancelFunc
	done   chan struct{}
	// lastCommit is the error of the commit the runner made as it
	// stopped; read once done is closed.
	lastCommit error
	// batch is the commit being made (committing: owned by its goroutine
	// until it reports on committed) or, after a failed one, the changes
	// it keeps for the next.
	commits    committer
	batch      *commitBatch
	committing bool
	committed  chan error
	// handOverDue: the schedule asked for a commit while one was being
	// made; the hand-over follows it.
	handOverDue bool

	// Owned by the runner goroutine.
	counts
	dirty         map[string][]byte // positions not yet handed to a commit
	acks          []func()          // of processed entries, run after their commit
	toEnforce     []state.Decision  // decided, not yet given to the enforcer
	sinceDecision int               // entries processed while toEnforce waits
	decided       uint64            // decisions taken (see call)
	pending       store.Changes     // bans and unbans not yet handed to a commit
	uncommitted   uint64            // processed entries whose positions are not stored yet
	commitLogged  time.Time         // when a failed commit was last logged
	committedAt   time.Time         // when the last commit was handed over
	// enforceErrors counts the enforcers' failures, on the runner and
	// enforcing goroutines.
	enforceErrors atomic.Uint64
	// matchLatency holds the match durations the workers sampled (one
	// entry in matchSampleEvery, so the hot path reads the clock for one
	// entry in matchSampleEvery).
	matchLatency latencyHist
	// watches follow the sources' health for the log (see watchSources).
	watches []*sourceWatch
	// lastTimeoutLog: regex timeouts are logged at most once per
	// timeoutLogEvery (unloggedTimeouts counts the others); evictions
	// likewise (noteEvicted).
	lastTimeoutLog   time.Time
	unloggedTimeouts uint64
	lastEvictedLog   time.Time
	// loggedRefusals is how many refusals of the gate the log has told.
	loggedRefusals uint64
	// until formats the ends of the bans logged; found the failures'
	// times (see logFound).
	until untilCache
	found foundLog
	// logq writes the found and ban lines while run runs.
	logq *logQueue
}

// excerpt cuts s to at most n bytes, on a character boundary.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func newRunner(st *pipelines.Stages, enf enforce.Enforcer, store *store.Store, log *slog.Logger, now func() time.Time) *runner {
	stage := newMatchStage(st, now, min(runtime.GOMAXPROCS(0), maxMatchWorkers))
	queues := make([]chan ingest.Entry, len(st.Sources))
	for i, src := range st.Sources {
		if _, ok := src.(ingest.BatchSource); !ok {
			queues[i] = make(chan ingest.Entry, queueSize)
		}
	}
	r := &runner{
		name:      st.Spec.Name,
		stages:    st,
		enforcer:  enf,
		outboxes:  enforce.Outboxes(enf),
		store:     store,
		scope:     store.Scoped(st.Spec.Name),
		log:       log.With("pipeline", st.Spec.Name),
		now:       now,
		in:        make(chan []ingest.Entry, 2),
		queues:    queues,
		stage:     stage,
		ctl:       make(chan func()),
		dirty:     map[string][]byte{},
		commits:   store,
		batch:     &commitBatch{},
		committed: make(chan error, 1),
		lines:     newRecentLines(min(st.Spec.MaxRetry, maxLinesPerBan), rememberedLines/min(st.Spec.MaxRetry, maxLinesPerBan)),
		evidence:  newBanEvidence(now()),
		regexSums: regexSums(st.Spec),
	}
	r.staging, r.acting = splitEnforcer(enf)
	r.enforcing = newEnforceQueue(r.applyActing)
	return r
}

// run starts the sources and the match stage, and applies the matched
// batches until ctx is done.
func (r *runner) run(ctx context.Context) {
	r.logq = startLogQueue()
	defer func() { q := r.logq; r.logq = nil; q.stop() }() // the last: after the drain's lines
	var wg sync.WaitGroup
	srcCtx, stopSources := context.WithCancel(ctx)
	for i, src := range r.stages.Sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.feed(srcCtx, src, r.queues[i])
		}()
	}
	r.stage.start(r.in)
	defer func() {
		stopSources()
		go func() {
			wg.Wait()
			close(r.in) // the stage then closes order after the last batch
		}()
		r.drain()
		r.lastCommit = r.commit()
		r.enforcing.wait() // its enforcers may stop once the runner has
	}()

	tick := tick.New(tickInterval) // on the phase the sources' polls share
	defer tick.Stop()
	sched := newCommitSchedule()
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-r.stage.order:
			r.stage.next(j)
			r.applied(j)
			if sched.processed(r.idle(), time.Now()) {
				r.commitDue(sched)
			}
		case <-sched.timer.C:
			if sched.fired(r.idle(), time.Now(), r.committedAt) {
				r.commitDue(sched)
			}
		case err := <-r.committed:
			r.settle(err)
			if r.handOverDue {
				r.commitDue(sched)
			}
		case fn := <-r.ctl:
			fn()
		case <-tick.C:
			r.watchSources(r.now())
			r.logRefusals()
			r.expire()
			r.enforcePending()
			if !sched.armed {
				r.commitDue(sched) // expiries and forgotten windows; nothing written when nothing changed
			}
		}
	}
}

// logRefusals logs, at most once a tick, that the gate refused addresses
// since the last time, with the latest one: one line however many there
// were.
func (r *runner) logRefusals() {
	var n uint64
	for _, c := range r.stages.Tracker.Stats().Refused {
		n += c
	}
	if n == r.loggedRefusals {
		return
	}
	last := r.stages.Tracker.LastRefused()
	level := slog.LevelInfo
	switch last.Reason {
	case gate.NotHost, gate.TooWide, gate.NATSServer:
		level = slog.LevelWarn // never a legitimate target: someone is trying
	}
	r.log.Log(context.Background(), level, "addresses refused by the gate", "count", n-r.loggedRefusals, "last", last.Prefix.String(), "reason", string(last.Reason))
	r.loggedRefusals = n
}

// drain applies what the stopped sources left in the queue, so every
// entry whose position might be committed has been counted: it returns
// once the match stage has given back its last batch.
func (r *runner) drain() {
	for j := range r.stage.order {
		r.stage.next(j)
		r.applyJob(j)
		r.stage.taken(j)
	}
	r.enforcePending()
}

// applied applies a matched batch from the match stage and hands the
// decisions to the enforcer in batches: when the queue is empty (at once,
// for a lone ban) or every enforceBatch decisions or enforceEvery entries
// in a flood, whichever comes first.
func (r *runner) applied(j *job) {
	n := len(j.entries)
	r.applyJob(j)
	r.stage.taken(j)
	if len(r.toEnforce) > 0 {
		if r.sinceDecision += n; r.idle() || len(r.toEnforce) >= enforceBatch || r.sinceDecision >= enforceEvery {
			r.enforcePending()
		}
	}
}

// idle reports whether no entry waits for the runner.
func (r *runner) idle() bool {
	return r.stage.queued.Load() == 0 && len(r.in) == 0
}

// applyJob applies a matched batch, in order: its positions and acks
// (stored and run with the next commit), its counts and its failures.
func (r *runner) applyJob(j *job) {
	r.notePositions(j.entries)
	r.uncommitted += uint64(len(j.entries))          // conversion: a count
	r.missed += uint64(len(j.entries) - len(j.hits)) // conversion: a count
	for _, d := range j.samples {
		r.matchLatency.observe(d)
	}
	now := r.now()
	for _, t := range j.timeouts {
		r.noteTimeouts(t, &j.entries[t.at], now)
	}
	if j.evicted > 0 {
		r.noteEvicted(j.evicted, now)
	}
	for i := range j.hits {
		h := &j.hits[i]
		if h.recognised {
			e := &j.entries[h.at]
			r.recognised(e.Recognised, e, now)
			continue
		}
		r.applyHit(h, &j.entries[h.at], now)
	}
}

// notePositions keeps the last position of each stream in entries, to be
// stored with the next commit, and their acks, to be run after it. A batch
// is applied whole between two commits: only its last position per stream
// can be stored (the others may have no Value, see ingest.BatchSource).
func (r *runner) notePositions(entries []ingest.Entry) {
	var kept [4]string // streams whose last position is kept; usually one
	done := kept[:0]
next:
	for i := len(entries) - 1; i >= 0; i-- {
		p := entries[i].Pos
		if p.Key == "" || p.Value == nil {
			continue
		}
		for _, k := range done {
			if k == p.Key {
				continue next
			}
		}
		done = append(done, p.Key)
		r.dirty[r.scope.Key(p.Key)] = p.Value
	}
	for i := range entries {
		if ack := entries[i].Ack; ack != nil {
			r.acks = append(r.acks, ack)
		}
	}
}

// applyHit counts a matched entry's outcome; a failure is logged and goes
// on to the tracker.
func (r *runner) applyHit(h *hit, e *ingest.Entry, now time.Time) {
	switch h.outcome {
	case match.Timeout:
		r.timedOut++
		return
	case match.Ignored, match.NoFail:
		r.ignored++
		return
	case match.BadAddress, match.NoAddress:
		// NoAddress: a host name or <F-ID> of a fail2ban filter; logjail
		// bans addresses only.
		r.badAddr++
		return
	}
	r.matched++
	r.logFound(&h.f, e, now)
	r.shareFailure(h.f)
	r.fail(h.f, now)
}

// recognised counts a failure recognised before the pipeline (see
// ingest.Recognised): one of the fleet's as the fleet's, a ban of another
// pipeline as a failure this pipeline matched, shared with the fleet like
// one.
func (r *runner) recognised(rec *ingest.Recognised, e *ingest.Entry, now time.Time) {
	f := match.RecognisedFailure(r.name, e)
	f.Regex = state.NoRegex // no failregex matched: explain says "recognised"
	if rec.Fleet {
		r.shared++
	} else {
		r.matched++
		r.logFound(&f, e, now)
		r.shareFailure(f)
	}
	r.fail(f, now)
}

// shareFailure gives a failure this node recognised to the fleet, unless
// this node ignores it (ignoreip, its own addresses).
func (r *runner) shareFailure(f match.Failure) {
	if r.share != nil && !r.stages.Tracker.Ignored(f.Addr) {
		r.share.Failure(f)
	}
}

// fail counts a failure; a ban it causes carries the prefix's last lines.
func (r *runner) fail(f match.Failure, now time.Time) {
	key := r.stages.Tracker.PrefixOf(f.Addr)
	r.lines.add(key, f.Line, r.markOf(f, now))
	if d, ok := r.stages.Count(f, now); ok {
		lines, marks := r.lines.take(key)
		if len(lines) > 0 {
			d.Lines = lines
		}
		r.evidence.keep(d, r.stages.Tracker.Policy(), lines, marks)
		r.apply(d)
	}
}

// apply records a decision for the store (written at the next commit) and
// for the enforcer (given to it with the batch, at the latest at the end of
// the burst being processed): a crash in between is repaired by the
// reconcile at the next start.
func (r *runner) apply(d state.Decision) {
	r.decided++
	switch d.Kind {
	case state.Ban:
		r.logBan(d)
		// Stored with the positions and windows that led to it.
		r.pending.Decisions = append(r.pending.Decisions, d)
		r.toEnforce = append(r.toEnforce, d)
		// Bans adopted from the fleet are not counted again here (a shared
		// recidive pipeline counts them where they were decided).
		if r.onBan != nil && d.Origin == "" {
			r.onBan(d)
		}
	case state.Unban:
		r.logInfo("unban", slog.String("addr", prefixText(d)), slog.String("reason", d.Reason))
		r.pending.Decisions = append(r.pending.Decisions, d)
		r.unbans++
		r.toEnforce = append(r.toEnforce, d)
	}
}

// logBan logs a ban at info level: the line Logger.Info would write, made
// without its per-call costs (the caller's program counter, which no
// handler of logjail's prints, and an Attr built from each argument), as
// a flood logs one per ban on the runner goroutine.
func (r *runner) logBan(d state.Decision) {
	ctx := context.Background()
	h := r.log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, "ban", 0)
	rec.AddAttrs(slog.String("addr", prefixText(d)), slog.Int("failures", d.Failures),
		slog.String("until", r.until.text(d)), slog.String("reason", d.Reason))
	r.handleLog(h, rec) // after the found lines that led to it
}

// untilCache is untilText of the bans' ends, formatted once per second:
// a flood's bans end within a few seconds of each other.
type untilCache struct {
	sec  int64
	last string
}

func (c *untilCache) text(d state.Decision) string {
	if d.Permanent() {
		return untilText(d)
	}
	if s := d.Until.Unix(); s != c.sec || c.last == "" {
		c.sec, c.last = s, untilText(d) // RFC 3339 in UTC: the same text for the whole second
	}
	return c.last
}

// errStopped answers a call to a runner that has stopped (a reload
// replaced it).
var errStopped = errors.New("pipeline stopped; try again")

// call runs fn on the runner goroutine and waits for it, and for the
// enforcers to apply the decisions it took, if any (a status waits for
// no flood of bans).
func (r *runner) call(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	run := func() {
		before := r.decided
		fn()
		r.enforcePending()
		if r.decided == before {
			close(done)
			return
		}
		r.enforcing.then(func() { close(done) })
	}
	select {
	case r.ctl <- run:
	case <-ctx.Done():
		return ctx.Err()
	case <-r.done:
		return errStopped
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func untilText(d state.Decision) string {
	if d.Permanent() {
		return "permanent"
	}
	return d.Until.UTC().Format(time.RFC3339)
}

// mailerStatus describes the runner's mail enforcers.
func (r *runner) mailerStatus() []MailerStatus {
	var out []MailerStatus
	enforce.Each(r.enforcer, func(e enforce.Enforcer) {
		if u, ok := e.(*mail.User); ok {
			st := u.Mailer().Stats()
			out = append(out, MailerStatus{Sent: st.Sent, Failed: st.Failed, Queued: st.Queued, Suppressed: st.Suppressed, Dropped: st.Dropped, LastError: st.LastError})
		}
	})
	return out
}

// publisherStatus describes the NATS publishers behind the runner's
// outboxes.
func (r *runner) publisherStatus() []PublisherStatus {
	var out []PublisherStatus
	for _, o := range r.outboxes {
		p, ok := o.(interface{ Publishers() []*enfnats.Publisher })
		if !ok {
			continue
		}
		for _, pub := range p.Publishers() {
			st := pub.Stats()
			out = append(out, PublisherStatus{Sink: pub.Sink(), State: st.State, Sent: st.Sent, Pending: st.Pending, Dropped: st.Dropped, Errors: st.Errors})
		}
	}
	return out
}
