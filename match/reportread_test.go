package match

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
)

// lengthMatcher decides by a line's length: a multiple of 3 fails an
// address (its user the line's first word), one more is ignored, the rest
// missed; so a line cut anywhere else shows in the report. The rest is
// wordMatcher's.
type lengthMatcher struct{ wordMatcher }

func (m *lengthMatcher) Match(e *ingest.Entry, now time.Time) (Failure, Outcome) {
	switch len(e.Message) % 3 {
	case 0:
		m.hits[0]++
		user, _, _ := strings.Cut(e.Message, " ")
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(len(e.Message))})
		return Failure{Addr: a, ID: a.String(), Time: now, Line: e.Message, User: user, HasUser: true}, Matched
	case 1:
		return Failure{}, Ignored
	}
	return Failure{}, Miss
}

func buildLengthMatcher() (Matcher, error) {
	return &lengthMatcher{wordMatcher{hits: make([]uint64, 1)}}, nil
}

// splitLengthMatcher is lengthMatcher as a Splitter whose Prepare keeps
// no state (PreparesApart) and whose Finish does: a failure's user ends
// with the number of failures up to it, so a line finished out of line order,
// or twice, or not at all shows in the report. It is what logjail's
// filters tracking connections are to Test: read in ranges by every
// worker, prepared and scanned there, finished in order.
type splitLengthMatcher struct {
	lengthMatcher
	failures int
}

func buildSplitLengthMatcher() (Matcher, error) {
	return &splitLengthMatcher{lengthMatcher: lengthMatcher{wordMatcher{hits: make([]uint64, 1)}}}, nil
}

func (m *splitLengthMatcher) KeepsState() bool    { return true }
func (m *splitLengthMatcher) Splits() bool        { return true }
func (m *splitLengthMatcher) PreparesApart() bool { return true }

func (m *splitLengthMatcher) Match(e *ingest.Entry, now time.Time) (Failure, Outcome) {
	var l LineState
	m.Prepare(e, now, &l)
	m.Scan(e, &l)
	m.Finish(e, now, &l)
	return l.Failure, l.Outcome
}

func (m *splitLengthMatcher) Prepare(e *ingest.Entry, now time.Time, l *LineState) {
	*l = LineState{Regex: -1, Time: now}
}

func (m *splitLengthMatcher) Scan(e *ingest.Entry, l *LineState) {
	switch len(e.Message) % 3 {
	case 0:
		user, _, _ := strings.Cut(e.Message, " ")
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(len(e.Message))})
		l.Regex, l.Outcome = 0, Matched
		l.Failure = Failure{Addr: a, ID: a.String(), Time: l.Time, Line: e.Message, User: user, HasUser: true}
	case 1:
		l.Outcome = Ignored
	default:
		l.Outcome = Miss
	}
}

func (m *splitLengthMatcher) Finish(e *ingest.Entry, now time.Time, l *LineState) {
	if l.Regex < 0 {
		return
	}
	m.hits[0]++
	m.failures++
	l.Failure.User = fmt.Sprint(l.Failure.User, "#", m.failures)
}

// straddling is a log whose line ends fall on each side of the first
// ranges' edges (a "\n" just before, on, just after an edge; "\r\n", an
// empty line and a two-byte character across one), then the lines a reader
// must take care of: CR endings, NUL bytes, invalid UTF-8 (a character cut
// by a newline too), lines longer than a range, a last line without its
// newline.
func straddling() string {
	var b strings.Builder
	filler := func(to int) { // lines up to the position to, a line ending there
		for b.Len() < to-200 {
			fmt.Fprintf(&b, "fail %d filler line %s\n", b.Len(), strings.Repeat("x", b.Len()%97))
		}
		b.WriteString(strings.Repeat("y", to-b.Len()-1) + "\n")
	}
	b.WriteString("cut \xc3\n\xa9 cut\n") // valid UTF-8 but for the newline
	edges := []string{"\n", "ab\n", "\r\n", "\n\n", "\u00e9\n", "\n\r\n"}
	j := 0
	for k, edge := range edges {
		for d := -2; d <= 2; d++ {
			if k > 0 && (d == -2 || d == 2) {
				continue
			}
			j++
			filler(j*rangeBytes + d) // a "\n" just before the edge starts
			b.WriteString(edge)
		}
	}
	for _, l := range []string{"crlf\r", "two\r\r", "three\r\r\r", "\r", "", "lone\rcr", "nul\x00byte\x00",
		"bad \xff\xfe utf-8", "caf\u00e9 \u65e5\u672c",
		strings.Repeat("l", rangeBytes+rangeTail+5), strings.Repeat("m", maxTestLine-1), "after long"} {
		b.WriteString(l + "\n")
	}
	b.WriteString("last without newline\r")
	return b.String()
}

// testBoth runs Test over the file at path from offset at: on its ranges
// (an *os.File) and through one reader (the same file hidden behind an
// io.Reader), with the options opts returns for each.
func testBoth(t *testing.T, build func() (Matcher, error), path string, at int64, workers int, opts func(ranges bool) TestOptions) (ranges, one Report, rangesErr, oneErr error) {
	t.Helper()
	run := func(inRanges bool) (Report, error) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Seek(at, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		var r io.Reader = f
		if fi, _ := f.Stat(); inRanges && fi.Size() > at && newFileRanges(f, true, workers) == nil {
			t.Fatal("the file is not read in ranges")
		}
		if !inRanges {
			r = struct{ io.Reader }{f}
		}
		rep, err := Test(build, r, when, opts(inRanges), workers)
		rep.LinesPerSec = 0
		return rep, err
	}
	ranges, rangesErr = run(true)
	one, oneErr = run(false)
	return ranges, one, rangesErr, oneErr
}

// A regular file read in ranges by every worker gives the report one
// reader gives: lines counted, failures in order with their numbers and
// texts, missed lines; a line too long ends both at the same line with
// the same error. So it does for a Splitter preparing apart, its lines
// finished in order (a failure's user numbers it), the same with one
// worker, matched line by line, as with several.
func TestTestRangesReadAsOneReader(t *testing.T) {
	log := straddling()
	tooLong := log[:3*rangeBytes] + "\n" + strings.Repeat("z", maxTestLine) + "\nfail 192.0.2.1\n"
	cases := []struct {
		name, log string
		at        int64
		wantErr   error
	}{
		{"straddling", log, 0, nil},
		{"from an offset", log, 12345, nil},
		{"from a range's edge", log, rangeBytes, nil},
		{"a line too long", tooLong, 0, bufio.ErrTooLong},
		{"a last line too long", log + strings.Repeat("z", maxTestLine-len("last without newline\r")), 0, bufio.ErrTooLong},
		{"a last line just short enough", log + strings.Repeat("z", maxTestLine-len("last without newline\r")-1), 0, nil},
		{"one line", "fail 192.0.2.1 root", 0, nil},
		{"one newline", "\n", 0, nil},
		{"empty", "", 0, nil},
	}
	for _, tc := range cases {
		path := filepath.Join(t.TempDir(), "auth.log")
		if err := os.WriteFile(path, []byte(tc.log), 0o600); err != nil {
			t.Fatal(err)
		}
		onOne := map[string]Report{} // the report with one worker, by matcher
		for _, workers := range []int{1, 2, 3} {
			for _, mc := range []struct {
				name  string
				build func() (Matcher, error)
			}{{"line by line", buildLengthMatcher}, {"split", buildSplitLengthMatcher}} {
				t.Run(fmt.Sprint(tc.name, "/", workers, "/", mc.name), func(t *testing.T) {
					var read []int64 // the ranges' progress
					opts := func(ranges bool) TestOptions {
						o := TestOptions{KeepFailures: true, KeepMissed: true}
						if ranges {
							o.Progress = func(n int64) { read = append(read, n) }
						}
						return o
					}
					got, want, gotErr, wantErr := testBoth(t, mc.build, path, tc.at, workers, opts)
					if !errors.Is(gotErr, tc.wantErr) || !errors.Is(wantErr, tc.wantErr) {
						t.Fatalf("errors %v (ranges) and %v (one reader), want %v", gotErr, wantErr, tc.wantErr)
					}
					if !slices.IsSorted(read) || tc.wantErr == nil && len(tc.log) > 0 && read[len(read)-1] != int64(len(tc.log))-tc.at {
						t.Errorf("progress %v, the file has %d bytes from %d", read, len(tc.log), tc.at)
					}
					if want.Lines == 0 && tc.log != "" && tc.log != "\n" {
						t.Fatalf("no lines")
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("ranges: %s\none reader: %s", digest(got), digest(want))
					}
					got.Dates = nil // the test matchers count a date each
					if workers == 1 {
						onOne[mc.name] = got
					} else if !reflect.DeepEqual(got, onOne[mc.name]) {
						t.Errorf("%d workers: %s\none: %s", workers, digest(got), digest(onOne[mc.name]))
					}
				})
			}
		}
	}
}

// digest is what differs between two reports, in short.
func digest(rep Report) string {
	return fmt.Sprintf("%d lines, %d matched, %d ignored, %d missed, %d failures, %d missed lines, dates %v",
		rep.Lines, rep.Matched, rep.Ignored, rep.Missed, len(rep.Failures), len(rep.MissedLines), rep.Dates)
}

// On the shared workload (when generated; not under the race detector,
// where it takes long), the streamed failures of the ranges and of one
// reader are the same, line for line.
func TestTestRangesReadTheWorkloadAsOneReader(t *testing.T) {
	if raceDetector {
		t.Skip("the workload takes too long under the race detector")
	}
	path := testkit.WorkloadPath()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no workload: %v", err)
	}
	// The sums of the failures (number, address, user, text) in order.
	var sums [2]uint64
	opts := func(ranges bool) TestOptions {
		h, i := fnv.New64a(), 0
		if ranges {
			i = 1
		}
		return TestOptions{Failures: func(f FailureRecord) error {
			fmt.Fprintf(h, "%d %s %s %s\n", f.Line, f.Addr, *f.User, f.Text)
			sums[i] = h.Sum64()
			return nil
		}}
	}
	got, want, gotErr, wantErr := testBoth(t, buildLengthMatcher, path, 0, 2, opts)
	if gotErr != nil || wantErr != nil {
		t.Fatal(gotErr, wantErr)
	}
	rangesSum, oneSum := sums[1], sums[0]
	if !reflect.DeepEqual(got, want) || rangesSum != oneSum || got.Lines < 1000 {
		t.Errorf("ranges: %s, failures %x\none reader: %s, failures %x", digest(got), rangesSum, digest(want), oneSum)
	}
}

// A pipe (an *os.File that is no regular file) keeps one reader, and gives
// the report a string gives.
func TestTestReadsAPipe(t *testing.T) {
	log := strings.Repeat("fail 192.0.2.1 root\nskip\nnothing\n", 5000)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if newFileRanges(r, true, 2) != nil {
		t.Fatal("a pipe is read in ranges")
	}
	go func() {
		io.WriteString(w, log)
		w.Close()
	}()
	opts := TestOptions{KeepFailures: true, KeepMissed: true}
	got, err := Test(buildLengthMatcher, r, when, opts, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Test(buildLengthMatcher, strings.NewReader(log), when, opts, 2)
	if err != nil {
		t.Fatal(err)
	}
	got.LinesPerSec, want.LinesPerSec = 0, 0
	if !reflect.DeepEqual(got, want) || got.Lines != 15000 {
		t.Errorf("pipe: %s\nstring: %s", digest(got), digest(want))
	}
}
