package match

import (
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/logjail/logjail/ingest"
)

// Report is the result of running a filter over a log, the schema of
// `logjail test --json`.
type Report struct {
	Lines   int `json:"lines"`
	Matched int `json:"matched"`
	// NoAddress counts the matched lines whose failure id is not an
	// address (a host name, an <F-ID>): listed, never banned.
	NoAddress int `json:"no_address,omitempty"`
	Ignored   int `json:"ignored"`
	Missed    int `json:"missed"`
	// TimedOut counts the lines that matched nothing because a regex on
	// the backtracking engine ran out of time on them (not in Missed).
	TimedOut int `json:"timed_out"`
	// Timeouts counts matches on the backtracking engine that timed out
	// (regexes and date templates; a line can count more than once).
	Timeouts    uint64         `json:"timeouts"`
	LinesPerSec float64        `json:"lines_per_sec"`
	Regexes     []RegexHits    `json:"regexes"`
	Dates       map[string]int `json:"dates"`
	// Failures lists the failures when Test is asked to keep them; --json
	// streams them instead (TestOptions.Failures, ReportWriter).
	Failures []FailureRecord `json:"failures"`
	// MissedLines holds the missed lines when asked for (--print-missed).
	MissedLines []NumberedLine `json:"missed_lines,omitempty"`
	// TimeoutLines holds the timed-out lines when failures or missed lines
	// are kept.
	TimeoutLines []NumberedLine `json:"timeout_lines,omitempty"`
}

// RegexHits counts one failregex's matches.
type RegexHits struct {
	Regex string `json:"regex"`
	Hits  uint64 `json:"hits"`
	// Engine is "re2", or "regexp2" for a pattern that needs the
	// backtracking engine (look-arounds, back-references, conditionals).
	Engine string `json:"engine"`
	// Timeouts counts the regex's matches that ran out of time.
	Timeouts uint64 `json:"timeouts,omitempty"`
}

// FailureRecord is one failure found in the log.
type FailureRecord struct {
	Line int `json:"line"`
	// Addr is the address, or the failure id when it is not an address.
	Addr string `json:"addr"`
	// ID is the failure id when it differs from Addr (an <F-ID>).
	ID   string    `json:"id,omitempty"`
	Time time.Time `json:"time"`
	// User is the captured user, "" when the filter captured an empty
	// one (fail2ban's corpus has such lines), nil (omitted) when it
	// captured none.
	User *string `json:"user,omitempty"`
	Text string  `json:"text"`
}

// NumberedLine is a line of the log with its 1-based number.
type NumberedLine struct {
	Line int    `json:"line"`
	Text string `json:"text"`
}

// maxTestLine bounds one line in `logjail test`, as the file source does.
const maxTestLine = 1 << 20

// TestOptions selects what Test keeps besides the counts.
type TestOptions struct {
	KeepFailures bool // list every failure in the report (--print-matched)
	// Failures, when set, receives every failure in line order as soon as
	// its batch and those before it are matched, and the report lists
	// none: memory stays flat however many failures the log holds (--json
	// streams them). An error stops the run, and Test returns it. The
	// record's strings may point into a read buffer that is read into
	// again after the call (see fileRanges): a sink that keeps one
	// copies it.
	Failures   func(FailureRecord) error
	KeepMissed bool // list the missed lines (--print-missed)
	// Progress, when set, is called now and then with the bytes read so far.
	Progress func(bytesRead int64)
}

// testBatch is a run of consecutive lines. Its lines, failures and
// missed lines are numbered from 1: the merge adds the lines before it.
type testBatch struct {
	seq   int
	lines []string
	rep   Report
	// read is how far into the input the batch reaches (for Progress).
	read int64
	// err ends the input after the batch's lines (a line too long, a
	// failed read): the report holds the lines before it, as it would
	// from one reader.
	err error
	// rng, in a batch of a regular file, is the range whose lines the
	// worker reads itself (see fileRanges).
	rng fileRange
	// held is the text of rep's failures besides their lines.
	held recordText
	// staged is the batch's state in a Stream (testStream.prepared).
	staged *staged
}

const testBatchLines = 2048

// Test runs a filter over every line of r, dating year-less lines against
// now; it applies no window and bans nothing. Lines without a date are
// dated now (or with the last date, for a filter keeping it). A filter
// without state between lines (LineByLine) runs on `workers` goroutines, each with its own matcher from build, over
// batches of lines, and the results are merged in line order; when r is a
// regular file, each worker also reads and splits its batches' lines
// itself (fileRanges), where a pipe has one reader. So does a Splitter's
// (fail2ban's dialect with maxlines 1; logjail's keeping the last date or
// connections),
// its state between lines kept by the first matcher in line order (see
// Stream); when its Prepare keeps no state (PreparesApart: logjail's
// tracking connections without the last date), each worker also reads
// (fileRanges), prepares and scans its batches, and only Finish runs in
// line order. A filter with a multi-line buffer runs on one.
func Test(build func() (Matcher, error), r io.Reader, now time.Time, opts TestOptions, workers int) (Report, error) {
	first, err := build()
	if err != nil {
		return Report{}, err
	}
	stream := newTestStream(first, workers)
	apart := LineByLine(first)
	n := 1 // matchers
	if apart || stream != nil {
		n = max(workers, 1)
	}
	start := time.Now()
	// A Splitter whose Prepare keeps no state reads as the workers apart
	// do: on several, on a stream (see testStream.apart); on one, its
	// batches are matched in order.
	s, split := first.(Splitter)
	feed, release := testFeed(r, apart || split && PreparesApart(s), n)
	todo := make(chan *testBatch, 2*n)
	done := make(chan *testBatch, 2*n)
	stop := make(chan struct{}) // closed when the failure sink fails
	var wg sync.WaitGroup
	wg.Add(n)
	work := (<-chan *testBatch)(todo)
	if stream != nil && !stream.apart {
		work = stream.prepared(todo, now)
	}
	worker := func(m Matcher) {
		defer wg.Done()
		for b := range work {
			if stream != nil {
				if stream.apart {
					stream.prepareOn(b, m.(Splitter), now)
				}
				stream.match(b, m.(Splitter), now, opts, done) // sends b once finished
				continue
			}
			b.load()
			testLines(b, matchedBy(m, now), m.Dialect(), now, opts)
			done <- b
		}
	}
	go func() {
		feed(todo, stop)
		close(todo)
		wg.Wait()
		close(done)
	}()
	// The first worker starts at once; the others' matchers are built
	// meanwhile (compiling sshd's takes a few milliseconds).
	go worker(first)
	matchers := []Matcher{first}
	for len(matchers) < n {
		m, err := build()
		if err != nil {
			close(stop)
			for range n - len(matchers) {
				wg.Done() // the workers that will not start
			}
			for range done { // let the reader and the first workers finish
			}
			return Report{}, err
		}
		matchers = append(matchers, m)
		go worker(m)
	}

	rep := Report{Dates: map[string]int{}, Failures: []FailureRecord{}}
	if err := mergeBatches(&rep, done, opts, release); err != nil {
		close(stop)
		for range done { // let the reader and the workers finish
		}
		return rep, err
	}
	if el := time.Since(start).Seconds(); el > 0 {
		rep.LinesPerSec = float64(rep.Lines) / el
	}
	addCounters(&rep, matchers)
	return rep, nil
}

// addCounters adds the matchers' counters to rep: hits and timeouts per
// regex, timeouts, and the dates found per format.
func addCounters(rep *Report, matchers []Matcher) {
	first := matchers[0]
	engines := first.Engines()
	for i, re := range first.Regexes() {
		var hits, timeouts uint64
		for _, m := range matchers {
			hits += m.Hits()[i]
			timeouts += m.RegexTimeouts()[i]
		}
		rep.Regexes = append(rep.Regexes, RegexHits{Regex: re, Hits: hits, Engine: engines[i], Timeouts: timeouts})
	}
	for _, m := range matchers {
		rep.Timeouts += m.Timeouts()
		for k, v := range m.DateHits() {
			rep.Dates[k] += int(v)
		}
	}
}

// mergeBatches adds the workers' batches to rep in line order, handing
// each failure to opts.Failures when set, and each merged batch to release
// (when set), until done closes, a batch ends the input with an error, or
// the sink fails.
func mergeBatches(rep *Report, done <-chan *testBatch, opts TestOptions, release func(*testBatch)) error {
	if opts.Failures != nil {
		rep.Failures = nil
	}
	pending := map[int]*testBatch{}
	next := 0
	for b := range done {
		pending[b.seq] = b
		for pb, ok := pending[next]; ok; pb, ok = pending[next] {
			delete(pending, next)
			next++
			if err := mergeBatch(rep, pb, opts); err != nil {
				return err
			}
			if opts.Progress != nil {
				opts.Progress(pb.read)
			}
			if pb.err != nil {
				return pb.err
			}
			if release != nil {
				release(pb)
			}
		}
	}
	return nil
}

// mergeBatch adds batch b to rep, numbering its lines after rep's.
func mergeBatch(rep *Report, b *testBatch, opts TestOptions) error {
	base := rep.Lines
	rep.Lines += b.rep.Lines
	rep.Matched += b.rep.Matched
	rep.NoAddress += b.rep.NoAddress
	rep.Ignored += b.rep.Ignored
	rep.Missed += b.rep.Missed
	rep.TimedOut += b.rep.TimedOut
	for _, l := range b.rep.MissedLines {
		rep.MissedLines = append(rep.MissedLines, NumberedLine{Line: base + l.Line, Text: l.Text})
	}
	for _, l := range b.rep.TimeoutLines {
		rep.TimeoutLines = append(rep.TimeoutLines, NumberedLine{Line: base + l.Line, Text: l.Text})
	}
	for _, f := range b.rep.Failures {
		f.Line += base
		if opts.Failures == nil {
			rep.Failures = append(rep.Failures, f)
			continue
		}
		if err := opts.Failures(f); err != nil {
			return err
		}
	}
	return nil
}

// testLines matches one batch, numbering its lines from 1. A line kept in
// the report is copied out of its chunk (see batchText) or its read buffer
// (see fileRanges), so the report does not hold the whole log and the
// buffer can be read into again. A batch read again reuses the arrays of
// its report's failures and of their text. result gives each line's
// failure and outcome; dialect is the matcher's.
func testLines(b *testBatch, result lineResult, dialect Dialect, now time.Time, opts TestOptions) {
	b.rep = Report{Failures: b.rep.Failures[:0]}
	b.held.reset()
	rep := &b.rep
	keepFailures := opts.KeepFailures || opts.Failures != nil
	var e ingest.Entry // one for the batch: a matcher keeps no entry
	for i, line := range b.lines {
		n := i + 1
		rep.Lines++
		e = ingest.Entry{Message: line, ReadAt: now}
		f, out := result(i, &e)
		if out == BadAddress && dialect == DialectFail2ban {
			// fail2ban counts it (its id is the text it captured).
			out = NoAddress
		}
		switch out {
		case Matched, NoAddress:
			rep.Matched++
			if out == NoAddress {
				rep.NoAddress++
			}
			if !keepFailures {
				continue
			}
			rec := failureRecord(*f, out, n, line, &b.held)
			if opts.Failures == nil {
				rec = rec.cloned()
			}
			rep.Failures = append(rep.Failures, rec)
		case Ignored, NoFail:
			rep.Ignored++
		case Timeout:
			rep.TimedOut++
			if keepFailures || opts.KeepMissed {
				rep.TimeoutLines = append(rep.TimeoutLines, NumberedLine{Line: n, Text: strings.Clone(line)})
			}
		default:
			rep.Missed++
			if opts.KeepMissed {
				rep.MissedLines = append(rep.MissedLines, NumberedLine{Line: n, Text: strings.Clone(line)})
			}
		}
	}
}

// lineResult matches line i of a batch, whose entry is e, and returns its
// failure (read before the next call) and outcome.
type lineResult func(i int, e *ingest.Entry) (*Failure, Outcome)

// matchedBy is the lineResult of m's Match.
func matchedBy(m Matcher, now time.Time) lineResult {
	var f Failure
	return func(_ int, e *ingest.Entry) (*Failure, Outcome) {
		var out Outcome
		f, out = m.Match(e, now)
		return &f, out
	}
}

// failureRecord is how the report lists failure f of line n, its text
// besides the line held in held.
func failureRecord(f Failure, out Outcome, n int, line string, held *recordText) FailureRecord {
	rec := FailureRecord{Line: n, Addr: held.addr(f.Addr), Time: f.Time.UTC(), Text: line}
	if f.HasUser {
		rec.User = held.user(f.User)
	}
	if out == NoAddress {
		rec.Addr = f.ID
	} else if f.ID != "" && f.ID != rec.Addr {
		if a, err := netip.ParseAddr(f.ID); err != nil || a.Unmap() != f.Addr {
			rec.ID = f.ID
		}
	}
	return rec
}

// recordText holds the text of a batch's failure records besides their
// lines, addresses and users, in arrays that the batch read again reuses,
// not in an allocation each: like its lines, it is valid until the merge
// is done with the batch (see fileRanges).
type recordText struct {
	addrs []byte
	users []string
}

func (t *recordText) reset() { t.addrs, t.users = t.addrs[:0], t.users[:0] }

// addr is a's text, as a.String() writes it.
func (t *recordText) addr(a netip.Addr) string {
	if !a.IsValid() {
		return a.String()
	}
	start := len(t.addrs)
	t.addrs = a.AppendTo(t.addrs)
	return bytesString(t.addrs[start:])
}

// user is a pointer to a copy of u (a pointer to a Failure's User would
// move all of the Failure to the heap).
func (t *recordText) user(u string) *string {
	t.users = append(t.users, u)
	return &t.users[len(t.users)-1]
}

// cloned is rec with its text copied: what a failure holds of its line
// points into the line's chunk (see batchText), which a report that keeps
// every failure should not hold, or into a read buffer that is read into
// again (see fileRanges).
func (rec FailureRecord) cloned() FailureRecord {
	rec.Text, rec.Addr, rec.ID = strings.Clone(rec.Text), strings.Clone(rec.Addr), strings.Clone(rec.ID)
	if rec.User != nil {
		u := strings.Clone(*rec.User)
		rec.User = &u
	}
	return rec
}
