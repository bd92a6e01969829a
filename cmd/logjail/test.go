package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/filter"
	"github.com/logjail/logjail/pipelines"
)

func testCommand() *cli.Command {
	return &cli.Command{
		Name:      "test",
		Usage:     "run a filter over a log file or one line, like fail2ban-regex",
		ArgsUsage: "FILTER LOG",
		Description: "FILTER is a shipped filter name (sshd), a YAML filter file, or a fail2ban filter file\n" +
			"(/etc/fail2ban/filter.d/sshd.conf); a name or a fail2ban file takes arguments too\n" +
			"(sshd[mode=aggressive], exim-spam[honeypot=trap@example.org] -- logjail filters NAME lists a\n" +
			"filter's arguments --, /etc/fail2ban/filter.d/sshd.conf[mode=aggressive]). LOG is a file, or a\n" +
			"single log line.",
		Flags: []cli.Flag{
			jsonFlag(),
			&cli.BoolFlag{Name: "print-matched", Usage: "print the lines that matched"},
			&cli.BoolFlag{Name: "print-missed", Usage: "print the lines that matched nothing"},
			&cli.StringFlag{Name: "now", Usage: "reference `TIME` (RFC 3339) for dates without a year; default: the file's modification time, or now for a line"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("usage: logjail test FILTER LOG")
			}
			first, rules, err := pipelines.ResolveFilter(c.Args().Get(0), ".")
			if err != nil {
				return err
			}
			logArg := c.Args().Get(1)
			var in io.Reader
			var size int64
			now := time.Now()
			if f, err := os.Open(logArg); err == nil {
				defer f.Close()
				if fi, err := f.Stat(); err == nil {
					if fi.IsDir() {
						return fmt.Errorf("%s is a directory", logArg)
					}
					now = fi.ModTime()
					size = fi.Size()
				}
				in = f
			} else if strings.ContainsAny(logArg, " \t") {
				// A log line always has a space; a word without one is a
				// file name that could not be opened.
				in = strings.NewReader(logArg)
			} else {
				return err
			}
			if s := c.String("now"); s != "" {
				t, err := time.Parse(time.RFC3339, s)
				if err != nil {
					return fmt.Errorf("--now: %v", err)
				}
				now = t
			}
			return runTest(c, testMatchers(first, rules), in, logArg, now, size)
		},
	}
}

// testPipeline is the pipeline name pipelines.ResolveFilter gives a
// filter's matcher.
const testPipeline = "test"

// testMatchers returns the build of match.Test: first, the matcher
// compiled to check the filter, then matchers compiled from its rules, so
// the filter is read and compiled once less (its start is serial).
func testMatchers(first match.Matcher, rules match.Rules) func() (match.Matcher, error) {
	var given atomic.Bool
	return func() (match.Matcher, error) {
		if given.CompareAndSwap(false, true) {
			return first, nil
		}
		return filter.Compile(testPipeline, rules)
	}
}

// runTest matches the log in and prints the report: the human one, or
// the JSON document, whose failures are written as they are found.
func runTest(c *cli.Context, build func() (match.Matcher, error), in io.Reader, logArg string, now time.Time, size int64) error {
	opts := match.TestOptions{
		KeepFailures: !c.Bool("json") && c.Bool("print-matched"),
		KeepMissed:   c.Bool("print-missed"),
	}
	var jw *match.ReportWriter
	if c.Bool("json") {
		// The failures go out as they are found, not held.
		jw = match.NewReportWriter(c.App.Writer)
		opts.Failures = jw.Failure
	}
	if size > 0 {
		opts.Progress = progressBar(c.App.ErrWriter, size)
	}
	rep, err := match.Test(build, in, now, opts, runtime.GOMAXPROCS(0))
	if opts.Progress != nil {
		opts.Progress(-1)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", logArg, err)
	}
	if jw != nil {
		if !c.Bool("print-missed") {
			rep.MissedLines = nil
		}
		return jw.Finish(rep)
	}
	printReport(c.App.Writer, rep, c.Bool("print-matched"), c.Bool("print-missed"))
	return nil
}

func printReport(w io.Writer, rep match.Report, matched, missed bool) {
	fmt.Fprintf(w, "Lines: %d lines, %d ignored, %d matched, %d missed", rep.Lines, rep.Ignored, rep.Matched, rep.Missed)
	if rep.TimedOut > 0 || rep.Timeouts > 0 {
		fmt.Fprintf(w, ", %d timed out (%d regex timeouts)", rep.TimedOut, rep.Timeouts)
	}
	fmt.Fprintf(w, "\n\nFailregex: %d total\n", rep.Matched)
	for i, r := range rep.Regexes {
		timeouts := ""
		if r.Timeouts > 0 {
			timeouts = fmt.Sprintf(" [%d timeouts]", r.Timeouts)
		}
		fmt.Fprintf(w, "|  %d) [%d] (%s)%s %s\n", i+1, r.Hits, r.Engine, timeouts, r.Regex)
	}
	fmt.Fprintf(w, "\nDate formats:\n")
	var names []string
	for k := range rep.Dates {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(w, "|  [%d] %s\n", rep.Dates[k], k)
	}
	if matched {
		fmt.Fprintf(w, "\nMatched lines:\n")
		for _, f := range rep.Failures {
			user := ""
			if f.User != nil {
				user = " user=" + *f.User
			}
			fmt.Fprintf(w, "%6d  %s  %s%s  | %s\n", f.Line, f.Time.Format(time.RFC3339), f.Addr, user, f.Text)
		}
	}
	if missed {
		fmt.Fprintf(w, "\nMissed lines:\n")
		for _, l := range rep.MissedLines {
			fmt.Fprintf(w, "%6d  %s\n", l.Line, l.Text)
		}
	}
	if (matched || missed) && len(rep.TimeoutLines) > 0 {
		fmt.Fprintf(w, "\nTimed-out lines (a regex ran out of time; a failure there goes unseen):\n")
		for _, l := range rep.TimeoutLines {
			fmt.Fprintf(w, "%6d  %s\n", l.Line, l.Text)
		}
	}
	fmt.Fprintf(w, "\n%.0f lines/s\n", rep.LinesPerSec)
}

// progressBar draws progress on a terminal for a file that takes more than
// a second; elsewhere (a pipe, a log file) it prints nothing. Called with
// -1 it clears the line.
func progressBar(w io.Writer, size int64) func(int64) {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	start := time.Now()
	drawn := false
	var mu sync.Mutex
	return func(read int64) {
		mu.Lock()
		defer mu.Unlock()
		if read < 0 {
			if drawn {
				fmt.Fprint(w, "\r\033[K")
			}
			return
		}
		el := time.Since(start)
		if el < time.Second {
			return
		}
		drawn = true
		pct := float64(read) / float64(size)
		bar := int(pct * 30)
		fmt.Fprintf(w, "\r[%-30s] %5.1f%% %s", strings.Repeat("=", min(bar, 30)), 100*pct, el.Round(time.Second))
	}
}
