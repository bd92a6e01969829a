package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/pipelines/simulate"
)

func simulateCommand() *cli.Command {
	return &cli.Command{
		Name:      "simulate",
		Usage:     "replay logs through the configuration and report who would have been banned, touching nothing",
		ArgsUsage: "LOG...",
		Description: "Each LOG goes to every enabled pipeline that reads logs (--pipeline restricts them; a recidive\n" +
			"pipeline's bans source brings in the pipelines it follows), through its filter, windows, ignore rules,\n" +
			"bantime and bantime_increment; a pipeline's bans count for the recidive pipelines following it. The clock\n" +
			"is the log's time: each failure is counted at its own time, so findtime and ban expiry behave as they\n" +
			"would have when the lines were written. No firewall, state store, control socket or network is touched.",
		Flags: []cli.Flag{
			configFlag(),
			&cli.StringSliceFlag{Name: "pipeline", Usage: "simulate only pipeline `P` (repeatable)"},
			&cli.StringFlag{Name: "now", Usage: "reference `TIME` (RFC 3339) for dates without a year; default: each LOG's modification time"},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return fmt.Errorf("usage: logjail simulate [--config PATH] LOG... [--pipeline P]... [--now TIME] [--json]")
			}
			cfg, err := pipelines.Load(c.String("config"))
			if err != nil {
				return err
			}
			opts := simulate.Options{Logs: c.Args().Slice(), Pipelines: c.StringSlice("pipeline")}
			if s := c.String("now"); s != "" {
				if opts.Now, err = time.Parse(time.RFC3339, s); err != nil {
					return fmt.Errorf("--now: %v", err)
				}
			}
			r, err := simulate.Run(cfg, opts)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, r)
			}
			writeSimulation(c.App.Writer, r)
			return nil
		},
	}
}

// writeSimulation prints a simulation's report: each ban with its lines,
// then the logs and the pipelines' counts.
func writeSimulation(w io.Writer, r *simulate.Report) {
	if len(r.Bans) == 0 {
		fmt.Fprintln(w, "no bans")
	}
	for _, b := range r.Bans {
		fmt.Fprintln(w, simulatedBan(b))
		for _, l := range b.Lines {
			if l.Log == "" {
				fmt.Fprintf(w, "    (ban event) %s\n", l.Text)
				continue
			}
			fmt.Fprintf(w, "    %s:%d: %s\n", l.Log, l.Line, l.Text)
		}
	}
	fmt.Fprintln(w)
	for _, l := range r.Logs {
		fmt.Fprintf(w, "%s: %d lines, %d skipped (longer than max_line)\n", l.Path, l.Lines, l.Skipped)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PIPELINE\tLINES\tMATCHED\tFAILURES\tREFUSED\tBANS")
	for _, p := range r.Pipelines {
		var refused uint64
		for _, n := range p.Refused {
			refused += n
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", p.Pipeline, p.Lines, p.Matched, p.Failures, refused, p.Bans)
	}
	tw.Flush()
}

// simulatedBan is a ban's line: pipeline, what, when, for how long.
func simulatedBan(b simulate.Ban) string {
	what := b.Addr
	if (strings.Contains(b.Addr, ":") && b.Prefix < 128) || (!strings.Contains(b.Addr, ":") && b.Prefix < 32) {
		what = fmt.Sprintf("%s/%d", b.Addr, b.Prefix)
	}
	length := "permanently"
	if b.Until != nil {
		length = fmt.Sprintf("for %s until %s", pipelines.FormatDuration(time.Duration(b.BanTimeS)*time.Second), b.Until.Local().Format(time.RFC3339))
	}
	return fmt.Sprintf("%s\t%s\tbanned %s %s (ban %d; %s)", b.Pipeline, what, b.Time.Local().Format(time.RFC3339), length, b.BanCount, b.Reason)
}
