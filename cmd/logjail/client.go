package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/pipelines"
)

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print JSON"}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show the running pipelines, or one pipeline's counters and bans",
		ArgsUsage: "[PIPELINE]",
		Flags:     []cli.Flag{socketFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return fmt.Errorf("usage: logjail status [PIPELINE] [--json | --format FORMAT]")
			}
			cl := daemon.NewClient(c.String("socket"))
			w := c.App.Writer
			if c.NArg() == 0 {
				st, err := cl.Status(c.Context)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(w, st)
				}
				writeOverview(w, st)
				return nil
			}
			st, err := cl.PipelineStatus(c.Context, c.Args().First())
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(w, st)
			}
			var watching []string
			for _, s := range st.Sources {
				watching = append(watching, sourceLine(s))
			}
			if len(watching) == 0 && st.State == "stopped" {
				watching = []string{"nothing (stopped: logjail start " + st.Pipeline + ")"}
			}
			fmt.Fprintf(w, "Status for the pipeline: %s\n", st.Pipeline)
			fmt.Fprintf(w, "|- Filter\n")
			fmt.Fprintf(w, "|  |- Currently failed: %d\n", st.Filter.CurrentlyFailed)
			fmt.Fprintf(w, "|  |- Total failed:     %d\n", st.Filter.TotalFailed)
			fmt.Fprintf(w, "|  `- Watching:         %s\n", strings.Join(watching, "; "))
			fmt.Fprintf(w, "`- Actions\n")
			fmt.Fprintf(w, "   |- Currently banned: %d\n", st.Actions.CurrentlyBanned)
			fmt.Fprintf(w, "   |- Total banned:     %d\n", st.Actions.TotalBanned)
			inc := st.Actions.Increment
			if inc == "" {
				inc = "off"
			}
			fmt.Fprintf(w, "   |- Ban time:         %s (increment: %s)\n", st.Actions.BanTime, inc)
			fmt.Fprintf(w, "   `- Banned IP list:   %s\n", strings.Join(st.Actions.Banned, " "))
			for _, b := range st.Actions.Bans {
				fmt.Fprintf(w, "      %s (ban #%d)\n", banLine(b), b.BanCount)
			}
			var refused []string
			for _, why := range slices.Sorted(maps.Keys(st.RefusedByGate)) {
				if n := st.RefusedByGate[why]; n > 0 {
					refused = append(refused, fmt.Sprintf("%s %d", why, n))
				}
			}
			if len(refused) > 0 {
				fmt.Fprintf(w, "Refused by the gate: %s\n", strings.Join(refused, ", "))
			}
			for _, m := range st.Mailers {
				fmt.Fprintf(w, "Mail: sent %d, queued %d, failed attempts %d, held back %d, dropped %d", m.Sent, m.Queued, m.Failed, m.Suppressed, m.Dropped)
				if m.LastError != "" {
					fmt.Fprintf(w, ", last error: %s", m.LastError)
				}
				fmt.Fprintln(w)
			}
			for _, p := range st.Publishers {
				fmt.Fprintf(w, "NATS %s: %s, sent %d, pending %d, dropped %d, errors %d\n", p.Sink, p.State, p.Sent, p.Pending, p.Dropped, p.Errors)
			}
			writeRuntimeStatus(w, st)
			return nil
		},
	}
}

// writeOverview prints `logjail status` without a pipeline: the
// pipelines, those that could not start, a broken store, the daemon's
// version.
func writeOverview(w io.Writer, st daemon.Status) {
	fmt.Fprintf(w, "Status\n|- Number of pipelines: %d\n`- Pipeline list: %s\n", len(st.Pipelines), strings.Join(st.Pipelines, ", "))
	for name, why := range st.Failed {
		fmt.Fprintf(w, "Pipeline %s is not running: %s\n", name, why)
	}
	for _, name := range st.Stopped {
		fmt.Fprintf(w, "Pipeline %s is stopped (logjail start %s)\n", name, name)
	}
	if st.StoreError != "" {
		fmt.Fprintf(w, "STATE STORE BROKEN: %s\n", st.StoreError)
	}
	if st.Build != nil {
		fmt.Fprintf(w, "Daemon: logjail version %s\n", st.Build)
	}
}

// sourceLine describes a source in `logjail status PIPELINE`: what it
// watches, its health and why, its counters and its last entry.
func sourceLine(s daemon.SourceStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s", s.Watching, cmp.Or(s.State, "unknown"))
	if s.Reason != "" {
		fmt.Fprintf(&b, ": %s", s.Reason)
	}
	fmt.Fprintf(&b, ", read %d, skipped %d, dropped %d, errors %d", s.Read, s.Skipped, s.Dropped, s.Errors)
	if s.Rejected > 0 {
		fmt.Fprintf(&b, ", rejected %d", s.Rejected)
	}
	if s.HandshakeFailures > 0 {
		fmt.Fprintf(&b, ", TLS handshake failures %d", s.HandshakeFailures)
	}
	if s.LastEntry != nil {
		fmt.Fprintf(&b, ", last entry %s)", s.LastEntry.Local().Format(time.DateTime))
	} else {
		b.WriteString(", no entry yet)")
	}
	return b.String()
}

func bannedCommand() *cli.Command {
	return &cli.Command{
		Name:      "banned",
		Usage:     "list the active bans, or tell whether each ADDR is banned, where, until when and why",
		ArgsUsage: "[ADDR...]",
		Description: "With addresses: a line (or with --json an object) per address, with every ban covering it\n" +
			"(a prefix ban included); exits 0 when every address is banned, 1 when one is not, 2 on an error.\n" +
			"A stopped pipeline's bans, still enforced, are listed with the pipeline marked (stopped).",
		Flags: []cli.Flag{socketFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return lookupBanned(c)
			}
			bans, err := daemon.NewClient(c.String("socket")).Banned(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, bans)
			}
			if len(bans) == 0 {
				fmt.Fprintln(c.App.Writer, "no active bans")
			}
			for _, b := range bans {
				fmt.Fprintln(c.App.Writer, banLine(b))
			}
			return nil
		},
	}
}

func banLine(b daemon.Ban) string {
	pipeline := pipelineName(b.Pipeline, b.PipelineStopped)
	if b.Until == nil {
		return fmt.Sprintf("%s\t%s\tpermanent\t%s", pipeline, b.Addr, b.Reason)
	}
	return fmt.Sprintf("%s\t%s\tuntil %s (%s left)\t%s", pipeline, b.Addr, b.Until.Local().Format(time.DateTime), pipelines.FormatDuration(time.Duration(b.RemainingS)*time.Second), b.Reason)
}

// pipelineName is a pipeline's name in text, marked when it is stopped
// (logjail stop): its bans stay enforced.
func pipelineName(name string, stopped bool) string {
	if stopped {
		return name + " (stopped)"
	}
	return name
}

func banCommand() *cli.Command {
	return &cli.Command{
		Name:      "ban",
		Usage:     "ban addresses by hand",
		ArgsUsage: "PIPELINE ADDR...",
		Description: "Each address is its own decision, stored before it is reported; with several, one that fails\n" +
			"does not hold back the others, and the exit code is 1 naming the failed ones.",
		Flags: []cli.Flag{
			socketFlag(), jsonFlag(),
			&cli.StringFlag{Name: "for", Usage: "ban `DURATION` (10m, 1d, 2w, -1 = permanent); default: the pipeline's bantime"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return fmt.Errorf("usage: logjail ban PIPELINE ADDR... [--for DURATION]")
			}
			if c.NArg() > 2 {
				return banAddrs(c, c.Args().First(), c.Args().Tail())
			}
			b, err := daemon.NewClient(c.String("socket")).Ban(c.Context, daemon.BanRequest{Pipeline: c.Args().Get(0), Addr: c.Args().Get(1), For: c.String("for")})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, b)
			}
			fmt.Fprintln(c.App.Writer, "banned", banLine(b))
			return nil
		},
	}
}

func unbanCommand() *cli.Command {
	return &cli.Command{
		Name:      "unban",
		Usage:     "lift addresses' bans, or every ban",
		ArgsUsage: "ADDR... | --all",
		Description: "Each address is its own decision, stored before it is reported; with several, one that fails\n" +
			"(not banned) does not hold back the others, and the exit code is 1 naming the failed ones.",
		Flags: []cli.Flag{
			socketFlag(), jsonFlag(),
			&cli.StringFlag{Name: "pipeline", Usage: "only in `PIPELINE`"},
			&cli.BoolFlag{Name: "all", Usage: "lift every ban (of --pipeline, or of all pipelines)"},
		},
		Action: func(c *cli.Context) error {
			req := daemon.UnbanRequest{Pipeline: c.String("pipeline"), All: c.Bool("all")}
			switch {
			case req.All && c.NArg() == 0:
			case !req.All && c.NArg() == 1:
				req.Addr = c.Args().First()
			case !req.All && c.NArg() > 1:
				return unbanAddrs(c, c.Args().Slice())
			default:
				return fmt.Errorf("usage: logjail unban ADDR... [--pipeline P] | logjail unban --all [--pipeline P]")
			}
			r, err := daemon.NewClient(c.String("socket")).Unban(c.Context, req)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, r)
			}
			if req.All {
				fmt.Fprintf(c.App.Writer, "lifted %d bans\n", r.Count)
				return nil
			}
			fmt.Fprintf(c.App.Writer, "unbanned %s from %s\n", r.Addr, strings.Join(r.Pipelines, ", "))
			return nil
		},
	}
}
