package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/logjail/logjail/pipelines"
)

// filtersList is `logjail filters --json`: the shipped filters, and the
// fail2ban filters left out with the reason.
type filtersList struct {
	Filters []pipelines.FilterInfo `json:"filters"`
	LeftOut []leftOutFilter        `json:"left_out"`
}

type leftOutFilter struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

func filtersCommand() *cli.Command {
	return &cli.Command{
		Name:      "filters",
		Usage:     "list the shipped filters: modes, description, journal match, services",
		ArgsUsage: "[NAME]",
		Description: "Without NAME, one line per shipped filter (its modes and description), then the fail2ban\n" +
			"filters logjail leaves out and why. With NAME, that filter's description, modes, services,\n" +
			"journal match and arguments. A pipeline names one as filter: NAME (and mode: MODE, args: {ARG:\n" +
			"VALUE}); logjail test NAME LOG (or 'NAME[mode=MODE,ARG=VALUE]') runs it over a log.",
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return usageError("usage: logjail filters [NAME] [--json]")
			}
			infos, err := pipelines.ShippedFilterInfo()
			if err != nil {
				return err
			}
			if name := c.Args().First(); name != "" {
				i := slices.IndexFunc(infos, func(f pipelines.FilterInfo) bool { return f.Name == name })
				if to, mode, ok := pipelines.ShippedAlias(name); ok && i < 0 {
					if !c.Bool("json") {
						fmt.Fprintf(c.App.Writer, "%s is the %s filter in mode %s (filter: %s, mode: %s):\n", name, to, mode, to, mode)
					}
					i = slices.IndexFunc(infos, func(f pipelines.FilterInfo) bool { return f.Name == to })
				}
				if i < 0 {
					if why, ok := pipelines.LeftOut[name]; ok {
						return usageError("filter %q is not shipped: %s", name, why)
					}
					return usageError("no shipped filter %q (logjail filters lists them)", name)
				}
				return answer(c, infos[i], nil, printFilterInfo)
			}
			return answer(c, filtersList{Filters: infos, LeftOut: leftOut()}, nil, printFilters)
		},
	}
}

func leftOut() []leftOutFilter {
	out := []leftOutFilter{}
	for name, why := range pipelines.LeftOut {
		out = append(out, leftOutFilter{Name: name, Reason: why})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func printFilters(w io.Writer, l filtersList) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FILTER\tMODES\tDESCRIPTION")
	for _, f := range l.Filters {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, strings.Join(f.Modes, ","), f.Description)
	}
	tw.Flush()
	if len(l.LeftOut) > 0 {
		fmt.Fprintln(w, "\nfail2ban filters not shipped:")
		for _, f := range l.LeftOut {
			fmt.Fprintf(w, "  %s: %s\n", f.Name, f.Reason)
		}
	}
}

func printFilterInfo(w io.Writer, f pipelines.FilterInfo) {
	fmt.Fprintf(w, "%s: %s\n", f.Name, f.Description)
	fmt.Fprintf(w, "  modes:    %s (default %s)\n", strings.Join(f.Modes, ", "), f.DefaultMode)
	if len(f.Services) > 0 {
		fmt.Fprintf(w, "  services: %s\n", strings.Join(f.Services, "; "))
	}
	journal := "none (a journald source needs a match of its own)"
	if len(f.JournalMatch) > 0 {
		journal = pipelines.JoinJournalMatch(f.JournalMatch)
	}
	fmt.Fprintf(w, "  journal:  %s\n", journal)
	if len(f.Aliases) > 0 {
		fmt.Fprintf(w, "  aliases:  %s\n", strings.Join(f.Aliases, ", "))
	}
	if len(f.Arguments) > 0 {
		fmt.Fprintf(w, "  arguments (match.args):\n")
		for _, a := range f.Arguments {
			fmt.Fprintf(w, "    %s (default %s): %s\n", a.Name, argDefault(a), a.Description)
		}
	}
}

// argDefault shows an argument's default, saying what an empty one does.
func argDefault(a pipelines.ArgumentInfo) string {
	switch {
	case a.Default != "":
		return strconv.Quote(a.Default)
	case a.Empty != "":
		return `"", matching ` + a.Empty
	}
	return `"": its regexes are left out`
}
