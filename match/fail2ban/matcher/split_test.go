package matcher

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/matchtest"
)

// TestWorkersChangeNothing runs every fail2ban filter (each variant, over
// every sample log, see eachFilterVariant) split across several
// goroutines (match.Stream: batches prepared and finished in order, scanned
// at once by three matchers of their own) and as one matcher reading every
// line: outcome and failure must be the same line by line, and so must the
// hits, the dates and the timeouts. A filter with a multi-line buffer does
// not split, and runs on one goroutine.
func TestWorkersChangeNothing(t *testing.T) {
	eachFilterVariant(t, sameOnWorkers)
}

func sameOnWorkers(t *testing.T, name string, opts map[string]string, lines []string) {
	one, rules := compileVariant(t, name, opts)
	if !one.Splits() {
		if rules.MaxLines <= 1 {
			t.Fatalf("maxlines %d, and the filter does not split", rules.MaxLines)
		}
		t.Skipf("maxlines %d: one goroutine", rules.MaxLines)
	}
	owner, _ := Compile(name, rules)
	scanners := []match.Splitter{owner}
	for range 2 {
		m, _ := Compile(name, rules)
		scanners = append(scanners, m)
	}
	entries := make([]ingest.Entry, len(lines))
	for i, l := range lines {
		entries[i] = ingest.Entry{Message: l, ReadAt: variantNow}
	}
	states := matchtest.Streamed(owner, scanners, entries, variantNow, 61)
	for i := range entries {
		f, out := one.Match(&entries[i], variantNow)
		if l := &states[i]; l.Outcome != out || !reflect.DeepEqual(l.Failure, f) {
			t.Fatalf("line %d %q: split %v %+v, one matcher %v %+v", i, lines[i], l.Outcome, l.Failure, out, f)
		}
	}
	for _, m := range []*Matcher{owner, one} {
		if m.Timeouts() != 0 {
			t.Fatalf("%d timeouts (last %v): cannot compare", m.Timeouts(), m.LastTimeout())
		}
	}
	if !slices.Equal(owner.Hits(), one.Hits()) || !reflect.DeepEqual(owner.DateHits(), one.DateHits()) {
		t.Errorf("hits %v dates %v, one matcher %v %v", owner.Hits(), owner.DateHits(), one.Hits(), one.DateHits())
	}
}

// match.Test reports the same with several workers as with one: the same
// counts, failures, missed lines, hits and dates (fail2ban's sshd filter
// over the sample logs and the workload).
func TestReportSameOnWorkers(t *testing.T) {
	lines := append(allSampleLines(t), benchWorkload(t)...)
	_, rules := compileVariant(t, "sshd", nil)
	build := func() (match.Matcher, error) { return Compile("sshd", rules) }
	text := []byte(strings.Join(lines, "\n") + "\n")
	var reps []match.Report
	for _, workers := range []int{1, 3} {
		rep, err := match.Test(build, bytes.NewReader(text), variantNow, match.TestOptions{KeepFailures: true, KeepMissed: true}, workers)
		if err != nil {
			t.Fatal(err)
		}
		rep.LinesPerSec = 0
		reps = append(reps, rep)
	}
	if reps[0].Matched == 0 || reps[0].Timeouts != 0 {
		t.Fatalf("%d matched, %d timeouts", reps[0].Matched, reps[0].Timeouts)
	}
	if !reflect.DeepEqual(reps[0], reps[1]) {
		t.Errorf("with 3 workers %+v\nwith one %+v", summary(reps[1]), summary(reps[0]))
	}
}

// summary is rep without its lists, to print.
func summary(rep match.Report) match.Report {
	rep.Failures, rep.MissedLines, rep.TimeoutLines = nil, nil, nil
	return rep
}
