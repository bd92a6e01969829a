package native

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
)

// A step of a last-date case: a line (with the source's time when at is
// set) and the time its failure, or the next step's, must carry.
type dateStep struct {
	line string
	at   time.Time // the entry's time from its source (journal, syslog)
	want time.Time // the failure's time; zero: the line is no failure
}

// Dates of the steps below, around now (2026-11-25 12:00 UTC).
var (
	sec  = time.Second
	t59  = now.Add(-59 * sec)
	tNow = now
	// dateRead is the entries' read time, apart from every date above.
	dateRead = now.Add(-10 * time.Minute)
)

var lastDateCases = []struct {
	name        string
	datepattern string
	steps       []dateStep
}{
	{name: "dateless line first: read time", steps: []dateStep{
		{line: "denied 192.0.2.1", want: dateRead},
	}},
	{name: "the date on the line before", steps: []dateStep{
		{line: "2026-11-25 11:59:30 header"},
		{line: "denied 192.0.2.1", want: now.Add(-30 * sec)},
		{line: "denied 192.0.2.2", want: now.Add(-30 * sec)},
	}},
	{name: "59 s old: taken", steps: []dateStep{
		{line: "2026-11-25 11:59:01 header"},
		{line: "denied 192.0.2.1", want: t59},
	}},
	{name: "60 s old: too old, read time", steps: []dateStep{
		{line: "2026-11-25 11:59:00 header"},
		{line: "denied 192.0.2.1", want: dateRead},
	}},
	{name: "a later date is taken", steps: []dateStep{
		{line: "2027-01-01 00:00:00 header"},
		{line: "denied 192.0.2.1", want: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	}},
	{name: "the last date wins, an old one does not", steps: []dateStep{
		{line: "2026-11-25 11:59:50 header"},
		{line: "2026-11-25 11:00:00 header"},
		{line: "denied 192.0.2.1", want: dateRead},
	}},
	{name: "a dated failure dates the next line", steps: []dateStep{
		{line: "2026-11-25 11:59:58 denied 192.0.2.1", want: now.Add(-2 * sec)},
		{line: "denied 192.0.2.2", want: now.Add(-2 * sec)},
	}},
	{name: "bracketed date opening the line", steps: []dateStep{
		{line: "[2026-11-25 11:59:40] header"},
		{line: "denied 192.0.2.1", want: now.Add(-20 * sec)},
	}},
	{name: "the source's time", steps: []dateStep{
		{line: "header", at: tNow},
		{line: "denied 192.0.2.1", want: tNow},
	}},
	// A client's text holding a date dates its own line, never the
	// next: the date does not open the line.
	{name: "hostile: a date in a user name", steps: []dateStep{
		{line: "2026-11-25 11:00:00 header"},
		{line: "login of 2027-01-01 00:00:00 denied 192.0.2.1", want: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{line: "denied 192.0.2.2", want: dateRead},
	}},
	{name: "hostile: after the program's recent date", steps: []dateStep{
		{line: "2026-11-25 11:59:30 header"},
		{line: "user Nov 30 10:00:00 logged in"},
		{line: "denied 192.0.2.2", want: now.Add(-30 * sec)},
	}},
	{name: "datepattern lines, anchored with the program's text", datepattern: "^%H:%M:%S\n^=INFO REPORT==== %Y-%m-%d %H:%M:%S ===", steps: []dateStep{
		{line: "=INFO REPORT==== 2026-11-25 11:59:45 ==="},
		{line: "denied 192.0.2.1", want: now.Add(-15 * sec)},
		{line: "11:59:50 denied 192.0.2.2", want: now.Add(-10 * sec)},
		{line: "denied 192.0.2.3", want: now.Add(-10 * sec)},
	}},
	{name: "unanchored datepattern: only a date opening the line", datepattern: "%Y-%m-%d %H:%M:%S", steps: []dateStep{
		{line: "x 2026-11-25 11:59:45 header"},
		{line: "denied 192.0.2.1", want: dateRead},
		{line: "2026-11-25 11:59:45 header"},
		{line: "denied 192.0.2.1", want: now.Add(-15 * sec)},
	}},
	// fail2ban's strptime: a time of day later than now is yesterday's.
	{name: "time of day", datepattern: "^%H:%M:%S", steps: []dateStep{
		{line: "11:59:59 denied 192.0.2.1", want: now.Add(-sec)},
		{line: "12:00:00 denied 192.0.2.1", want: now},
		{line: "12:00:01 denied 192.0.2.1", want: now.Add(sec - 24*time.Hour)},
		{line: "23:59:59 denied 192.0.2.1", want: now.Add(12*time.Hour - sec - 24*time.Hour)},
	}},
}

func lastDateRules(datepattern string) match.Rules {
	return match.Rules{Failregex: []string{`denied <HOST>$`}, Datepattern: datepattern, Location: time.UTC, LastDate: true}
}

func TestLastDate(t *testing.T) {
	for _, tc := range lastDateCases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compile("p", lastDateRules(tc.datepattern))
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				e := ingest.Entry{Message: s.line, Time: s.at, ReadAt: dateRead}
				f, out := m.Match(&e, now)
				switch {
				case s.want.IsZero() && out == match.Matched:
					t.Errorf("step %d %q: counted", i, s.line)
				case !s.want.IsZero() && out != match.Matched:
					t.Errorf("step %d %q: %v", i, s.line, out)
				case !s.want.IsZero() && !f.Time.Equal(s.want):
					t.Errorf("step %d %q: dated %v, want %v", i, s.line, f.Time, s.want)
				}
			}
		})
	}
}

func TestDatepatternLinesErrors(t *testing.T) {
	_, err := Compile("p", lastDateRules("^%H:%M:%S\n%Y %Q"))
	if err == nil || !strings.Contains(err.Error(), `"%Y %Q"`) {
		t.Errorf("err %v, want the bad line named", err)
	}
}

// Split on a stream (the date prepared in log order, the regexes scanned
// by several matchers), a filter's dateless lines take the same last date
// as with one matcher reading every line.
func TestLastDateSplit(t *testing.T) {
	var lines []string
	for _, tc := range lastDateCases {
		if tc.datepattern == "" {
			for _, s := range tc.steps {
				if s.at.IsZero() {
					lines = append(lines, s.line)
				}
			}
		}
	}
	// Headers each followed by failures without a date, some more than a
	// minute later, in batches no boundary lines up with.
	for i := range 3000 {
		at := now.Add(time.Duration(i-3000) * 7 * sec)
		if i%4 == 0 {
			lines = append(lines, at.Format("2006-01-02 15:04:05")+" header")
			continue
		}
		lines = append(lines, fmt.Sprintf("denied 192.0.2.%d", i%250+1))
	}
	sameSplit(t, lastDateRules(""), lines)
	bothDates(t, lastDateRules(""), lines)
}

// bothDates checks that lines give failures dated with a last date and
// failures dated when read (now), so that a test comparing workers with
// one matcher sees both.
func bothDates(t *testing.T, rules match.Rules, lines []string) {
	t.Helper()
	one, _ := Compile("p", rules)
	last, read := 0, 0
	for _, l := range lines {
		e := ingest.Entry{Message: l, ReadAt: now}
		f, out := one.Match(&e, now)
		if out != match.Matched || !strings.HasPrefix(l, "denied") {
			continue
		}
		if f.Time.Equal(now) {
			read++
		} else {
			last++
		}
	}
	if last == 0 || read == 0 {
		t.Errorf("%d failures on a last date, %d on the read time: want both", last, read)
	}
}

// match.Test finds the same with several workers as with one for a filter
// whose lines take the last date (most of them) or their read time.
func TestReportSameOnWorkersLastDate(t *testing.T) {
	var lines []string
	for i := range 20000 {
		if i%3 == 0 {
			at := now.Add(time.Duration(i%120-90) * sec) // 90 s before now to 29 s after
			lines = append(lines, at.Format("2006-01-02 15:04:05")+" header")
			continue
		}
		lines = append(lines, fmt.Sprintf("denied 192.0.2.%d", i%200+1))
	}
	bothDates(t, lastDateRules(""), lines)
	sameOnWorkers(t, lastDateRules(""), strings.Join(lines, "\n")+"\n")
}

// TestLastDateIsOptIn: without Rules.LastDate a line without a date takes
// the time it was read, and a filter that neither tracks connections nor
// reads several lines classifies each line on its own (match.LineByLine),
// so several matchers share its stream in any order.
func TestLastDateIsOptIn(t *testing.T) {
	rules := lastDateRules("")
	rules.LastDate = false
	m, err := Compile("p", rules)
	if err != nil {
		t.Fatal(err)
	}
	if !match.LineByLine(m) {
		t.Error("a filter without state between lines is not read line by line")
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	readAt := now.Add(-10 * time.Minute)
	for _, line := range []string{"Nov 25 11:59:50 denied 192.0.2.1", "denied 192.0.2.2"} {
		e := ingest.Entry{Message: line, ReadAt: readAt}
		f, out := m.Match(&e, now)
		if out != match.Matched {
			t.Fatalf("%q: %v", line, out)
		}
		if line == "denied 192.0.2.2" && !f.Time.Equal(readAt) {
			t.Errorf("%q dated %v, want the read time %v", line, f.Time, readAt)
		}
	}
	rules.LastDate = true
	if m, _ := Compile("p", rules); match.LineByLine(m) {
		t.Error("a filter keeping the last date is read line by line")
	}
}
