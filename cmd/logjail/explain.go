package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/pipelines"
)

// explainCommand is `logjail explain ADDR`: why the daemon bans an
// address, banned it, or does not.
func explainCommand() *cli.Command {
	return &cli.Command{
		Name:      "explain",
		Usage:     "tell why ADDR is banned, was banned, or is not: the failure lines and regexes, the window, the gate",
		ArgsUsage: "ADDR",
		Description: "For each pipeline (or only --pipeline's): the bans covering ADDR (its own, a prefix's), what decided\n" +
			"each (failures, manual, fleet, restored) with the failure lines that led to it, the failregex that matched\n" +
			"each line and the window at the moment of the ban; the ban history (kept dbpurgeage after a ban); the\n" +
			"failures counted now; and the rule of the gate (ignoreip, ignoreself, ...) that keeps ADDR from bans.",
		Flags: []cli.Flag{socketFlag(), jsonFlag(), &cli.StringFlag{Name: "pipeline", Usage: "only in `PIPELINE`"}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("usage: logjail explain ADDR [--pipeline P] [--json]")
			}
			e, err := daemon.NewClient(c.String("socket")).Explain(c.Context, c.Args().First(), c.String("pipeline"))
			if err != nil {
				return &exitError{err: err, code: 2}
			}
			var out error
			if !e.Banned {
				out = &exitError{code: 1} // an answer, not an error
			}
			if c.Bool("json") {
				if err := printJSON(c.App.Writer, e); err != nil {
					return err
				}
				return out
			}
			printExplanation(c.App.Writer, e)
			return out
		},
	}
}

// printExplanation writes e for a reader: a summary line, then each
// pipeline's part.
func printExplanation(w io.Writer, e daemon.Explanation) {
	var by []string
	for _, p := range e.Pipelines {
		if len(p.Bans) > 0 {
			by = append(by, pipelineName(p.Pipeline, p.Stopped))
		}
	}
	if e.Banned {
		fmt.Fprintf(w, "%s is banned by %s\n", e.Addr, strings.Join(by, ", "))
	} else {
		fmt.Fprintf(w, "%s is not banned\n", e.Addr)
	}
	for _, p := range e.Pipelines {
		fmt.Fprintln(w)
		printPipelineExplanation(w, e.Addr, p)
	}
}

func printPipelineExplanation(w io.Writer, addr string, p daemon.PipelineExplanation) {
	if p.Stopped {
		fmt.Fprintf(w, "%s: stopped (logjail start %s resumes it): its bans stay enforced, no failure is counted\n", p.Pipeline, p.Pipeline)
	}
	for _, b := range p.Bans {
		printBanExplanation(w, b)
	}
	if len(p.Bans) == 0 {
		fmt.Fprintf(w, "%s: not banned\n", p.Pipeline)
	}
	counting := ""
	if p.Counting != addr {
		counting = " (counted by its prefix " + p.Counting + ")"
	}
	fmt.Fprintf(w, "  now: %d of maxretry %d failures within findtime %s%s\n", p.Failures, p.MaxRetry, p.FindTime, counting)
	printLines(w, p.Lines, 0)
	if p.GateText != "" {
		fmt.Fprintf(w, "  never banned here: %s\n", p.GateText)
	}
	for _, h := range p.History {
		until := "permanent"
		if h.Until != nil {
			until = "until " + when(*h.Until)
		}
		if slices.ContainsFunc(p.Bans, func(b daemon.BanExplanation) bool { return b.Addr == h.Addr && b.Time.Equal(h.Last) }) {
			fmt.Fprintf(w, "  history: %s, ban #%d: the ban above\n", h.Addr, h.BanCount)
			continue
		}
		fmt.Fprintf(w, "  history: %s, ban #%d at %s for %s (%s)\n", h.Addr, h.BanCount, when(h.Last), h.BanTime, until)
		printLines(w, h.Lines, 0)
	}
	fmt.Fprintf(w, "  (the history keeps a record %s after its last ban, dbpurgeage; longer for long bans)\n", p.HistoryKept)
}

func printBanExplanation(w io.Writer, b daemon.BanExplanation) {
	until := "permanently"
	if b.Until != nil {
		until = fmt.Sprintf("until %s (%s left)", when(*b.Until), pipelines.FormatDuration(time.Duration(b.RemainingS)*time.Second))
	}
	fmt.Fprintf(w, "%s: banned %s since %s %s, bantime %s, ban #%d: %s\n", b.Pipeline, b.Addr, when(b.Time), until, b.BanTime, b.BanCount, b.Reason)
	switch b.DecidedBy {
	case "manual":
		fmt.Fprintln(w, "  decided by hand (logjail ban): no failure lines")
	case "fleet":
		fmt.Fprintf(w, "  decided by fleet node %s and adopted here\n", b.Origin)
	case "restored":
		fmt.Fprintln(w, "  decided before logjail last started (restored from the state store): its lines are not kept across a restart")
	}
	if win := b.Window; win != nil {
		times := make([]string, len(win.Counted))
		for i, t := range win.Counted {
			times[i] = when(t)
		}
		fmt.Fprintf(w, "  window: maxretry %d within findtime %s; failures counted at %s\n", win.MaxRetry, win.FindTime, strings.Join(times, ", "))
	}
	printLines(w, b.Lines, b.LinesForgotten)
}

// printLines writes lines with the failregex of each, and says how many
// were forgotten.
func printLines(w io.Writer, lines []daemon.ExplainedLine, forgotten int) {
	if forgotten > 0 {
		fmt.Fprintf(w, "  %d failure lines forgotten (logjail keeps a bounded number of lines)\n", forgotten)
	}
	for _, l := range lines {
		at := "time unknown"
		if l.Time != nil {
			at = when(*l.Time)
		}
		var how string
		switch {
		case l.Recognised:
			how = "reported by the fleet or another pipeline's ban"
		case l.Regex == nil:
			how = "failregex unknown"
		case l.FilterChanged:
			how = fmt.Sprintf("failregex #%d, since changed", *l.Regex)
		default:
			how = fmt.Sprintf("failregex #%d %s", *l.Regex, l.RegexText)
		}
		if l.Time != nil && !l.Counted {
			how += " (not counted)"
		}
		fmt.Fprintf(w, "  - %s  %s\n      %s\n", at, how, l.Text)
	}
}

// when writes t in the local zone, as `banned` does.
func when(t time.Time) string { return t.Local().Format(time.DateTime) }
