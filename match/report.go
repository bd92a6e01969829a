package match

import (
	"bufio"
	"bytes"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

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
	// streams them). An error stops the run, and Test returns it.
	Failures   func(FailureRecord) error
	KeepMissed bool // list the missed lines (--print-missed)
	// Progress, when set, is called now and then with the bytes read so far.
	Progress func(bytesRead int64)
}

// testBatch is a run of consecutive lines, numbered from first.
type testBatch struct {
	seq, first int
	lines      []string
	rep        Report
	// staged is the batch's state in a Stream (testStream.prepared).
	staged *staged
}

const testBatchLines = 2048

// Test runs a filter over every line of r, dating year-less lines against
// now; it applies no window and bans nothing. Lines without a date are
// dated now. A filter without state between lines (logjail's dialect)
// runs on `workers` goroutines, each with its own matcher from build, over
// batches of lines, and the results are merged in line order; so does a
// Splitter's (fail2ban's dialect with maxlines 1), its state between lines
// kept by the first matcher in line order (see Stream); a fail2ban
// filter with a multi-line buffer runs on one.
func Test(build func() (Matcher, error), r io.Reader, now time.Time, opts TestOptions, workers int) (Report, error) {
	first, err := build()
	if err != nil {
		return Report{}, err
	}
	matchers := []Matcher{first}
	stream := newTestStream(first, workers)
	if first.Dialect() == DialectLogjail || stream != nil {
		for len(matchers) < workers {
			m, err := build()
			if err != nil {
				return Report{}, err
			}
			matchers = append(matchers, m)
		}
	}
	start := time.Now()
	todo := make(chan *testBatch, 2*len(matchers))
	done := make(chan *testBatch, 2*len(matchers))
	stop := make(chan struct{}) // closed when the failure sink fails
	var wg sync.WaitGroup
	work := (<-chan *testBatch)(todo)
	if stream != nil {
		work = stream.prepared(todo, now)
	}
	for _, m := range matchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				if stream != nil {
					stream.match(b, m.(Splitter), now, opts, done) // sends b once finished
					continue
				}
				b.rep = testLines(m, b.lines, b.first, now, opts)
				done <- b
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		readErr <- readBatches(r, todo, stop, opts.Progress)
		close(todo)
		wg.Wait()
		close(done)
	}()

	rep := Report{Dates: map[string]int{}, Failures: []FailureRecord{}}
	sinkErr := mergeBatches(&rep, done, opts)
	if sinkErr != nil {
		close(stop)
		for range done { // let the reader and the workers finish
		}
	}
	if err := <-readErr; err != nil {
		return rep, err
	}
	if sinkErr != nil {
		return rep, sinkErr
	}
	if el := time.Since(start).Seconds(); el > 0 {
		rep.LinesPerSec = float64(rep.Lines) / el
	}
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
	return rep, nil
}

// mergeBatches adds the workers' batches to rep in line order, handing
// each failure to opts.Failures when set, until done closes or the sink
// fails.
func mergeBatches(rep *Report, done <-chan *testBatch, opts TestOptions) error {
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
			rep.Lines += pb.rep.Lines
			rep.Matched += pb.rep.Matched
			rep.NoAddress += pb.rep.NoAddress
			rep.Ignored += pb.rep.Ignored
			rep.Missed += pb.rep.Missed
			rep.TimedOut += pb.rep.TimedOut
			rep.MissedLines = append(rep.MissedLines, pb.rep.MissedLines...)
			rep.TimeoutLines = append(rep.TimeoutLines, pb.rep.TimeoutLines...)
			if opts.Failures == nil {
				rep.Failures = append(rep.Failures, pb.rep.Failures...)
				continue
			}
			for _, f := range pb.rep.Failures {
				if err := opts.Failures(f); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// readBatches splits r into numbered batches of lines, until r ends or
// stop closes.
func readBatches(r io.Reader, out chan<- *testBatch, stop <-chan struct{}, progress func(int64)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxTestLine)
	var read int64
	b := &testBatch{first: 1}
	var text batchText
	n := 0
	for sc.Scan() {
		n++
		read += int64(len(sc.Bytes())) + 1
		text.add(bytes.TrimSuffix(sc.Bytes(), []byte("\r")))
		if text.n == testBatchLines {
			b.lines = text.take()
			select {
			case out <- b:
			case <-stop:
				return nil
			}
			b = &testBatch{seq: b.seq + 1, first: n + 1}
			if progress != nil {
				progress(read)
			}
		}
	}
	if text.n > 0 {
		b.lines = text.take()
		out <- b
	}
	return sc.Err()
}

// batchText gathers a batch's lines into strings of up to chunkBytes, a
// run of lines each, not a string each: a line's allocation cost more than
// matching most lines. A chunk stays below the size of a large allocation,
// whose fresh pages cost a page fault each; a small one reuses the heap's.
type batchText struct {
	chunk strings.Builder // String() does not copy, as string([]byte) does
	ends  []int           // where each line of chunk ends
	lines []string
	n     int // lines added since take
}

const chunkBytes = 32 * 1024

func (t *batchText) add(line []byte) {
	if t.chunk.Len() > 0 && t.chunk.Len()+len(line) > chunkBytes {
		t.flush()
	}
	if t.chunk.Cap() == 0 {
		t.chunk.Grow(chunkBytes)
	}
	t.chunk.Write(line)
	t.ends = append(t.ends, t.chunk.Len())
	t.n++
}

// flush splits the chunk into lines, valid UTF-8 (one check of the chunk,
// for nearly every chunk, where a check a line would cost a call each).
func (t *batchText) flush() {
	text := t.chunk.String()
	valid := utf8.ValidString(text)
	start := 0
	for _, end := range t.ends {
		line := text[start:end]
		if !valid {
			line = ingest.ValidUTF8(line)
		}
		t.lines = append(t.lines, line)
		start = end
	}
	t.chunk, t.ends = strings.Builder{}, t.ends[:0]
}

// take returns the lines added since the last take.
func (t *batchText) take() []string {
	t.flush()
	lines := t.lines
	t.lines, t.n = make([]string, 0, len(lines)), 0
	return lines
}

// testLines matches one batch. A line kept in the report is copied out of
// its chunk (see batchText), so the report does not hold the whole log.
func testLines(m Matcher, lines []string, first int, now time.Time, opts TestOptions) Report {
	var rep Report
	keepFailures := opts.KeepFailures || opts.Failures != nil
	var e ingest.Entry // one for the batch: a matcher keeps no entry
	for i, line := range lines {
		n := first + i
		rep.Lines++
		e = ingest.Entry{Message: line, ReadAt: now}
		f, out := m.Match(&e, now)
		if out == BadAddress && m.Dialect() == DialectFail2ban {
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
			rec := failureRecord(f, out, n, line)
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
	return rep
}

// failureRecord is how the report lists failure f of line n.
func failureRecord(f Failure, out Outcome, n int, line string) FailureRecord {
	rec := FailureRecord{Line: n, Addr: f.Addr.String(), Time: f.Time.UTC(), Text: line}
	if f.HasUser {
		rec.User = &f.User
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

// cloned is rec with its text copied: what a failure holds of its line
// points into the line's chunk (see batchText), which a report that keeps
// every failure should not hold.
func (rec FailureRecord) cloned() FailureRecord {
	rec.Text, rec.Addr, rec.ID = strings.Clone(rec.Text), strings.Clone(rec.Addr), strings.Clone(rec.ID)
	if rec.User != nil {
		u := strings.Clone(*rec.User)
		rec.User = &u
	}
	return rec
}
