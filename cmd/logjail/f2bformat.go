package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logjail/logjail/daemon"
)

// `--format fail2ban`: `status` and `banned` print what fail2ban-client
// prints for the same question, so that scripts and monitoring checks
// written for it keep working. The layout was learnt from fail2ban-client
// 1.0.2's output; TestFail2banFormatMatchesFail2ban compares the two
// byte for byte.

// The values of --format.
const (
	formatText     = "text"
	formatJSON     = "json"
	formatFail2ban = "fail2ban"
)

func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Value: formatText,
		Usage: "print `FORMAT`: text, json (as --json) or fail2ban (fail2ban-client's layout)"}
}

// withFormat gives cmd, a command with --json, a --format flag; with
// --format fail2ban, f2b runs instead of cmd's action.
func withFormat(cmd *cli.Command, f2b cli.ActionFunc) *cli.Command {
	cmd.Flags = append(cmd.Flags, formatFlag())
	action := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		format, err := outputFormat(c)
		if err != nil {
			return err
		}
		if format == formatFail2ban {
			return f2b(c)
		}
		return action(c)
	}
	return cmd
}

// outputFormat returns the command's --format. --format json sets --json,
// so the command's JSON output and JSON errors follow from that flag.
func outputFormat(c *cli.Context) (string, error) {
	f := c.String("format")
	if c.IsSet("format") && c.IsSet("json") {
		return "", fmt.Errorf("--json and --format are one choice: give one of them")
	}
	switch f {
	case formatText, formatFail2ban:
		return f, nil
	case formatJSON:
		return f, c.Set("json", "true")
	}
	return "", fmt.Errorf("--format: %q is not one of text, json, fail2ban", f)
}

// f2bItem is an item of fail2ban-client's status tree: each item gets
// "|-", the last "`-", and its children are indented under it.
type f2bItem struct {
	label    string
	value    string // "label:\tvalue" when there are no children
	children []f2bItem
}

// writeF2bTree writes items under the heading, in fail2ban-client's
// layout (two levels at most, as fail2ban has).
func writeF2bTree(w io.Writer, heading string, items []f2bItem) {
	fmt.Fprintln(w, heading)
	for i, it := range items {
		branch, indent := "|-", "|  "
		if i == len(items)-1 {
			branch, indent = "`-", "   "
		}
		if it.children == nil {
			fmt.Fprintf(w, "%s %s:\t%s\n", branch, it.label, it.value)
			continue
		}
		fmt.Fprintf(w, "%s %s\n", branch, it.label)
		for j, ch := range it.children {
			sub := "|-"
			if j == len(it.children)-1 {
				sub = "`-"
			}
			fmt.Fprintf(w, "%s%s %s:\t%s\n", indent, sub, ch.label, ch.value)
		}
	}
}

// writeF2bOverview is `fail2ban-client status`: the pipelines are its
// jails, in name order.
func writeF2bOverview(w io.Writer, st daemon.Status) {
	names := slices.Sorted(slices.Values(st.Pipelines))
	writeF2bTree(w, "Status", []f2bItem{
		{label: "Number of jail", value: strconv.Itoa(len(names))},
		{label: "Jail list", value: strings.Join(names, ", ")},
	})
}

// writeF2bPipeline is `fail2ban-client status JAIL`. fail2ban's filter
// watches files ("File list") or the journal ("Journal matches"); a
// pipeline may have both, and has each line its sources call for (a
// pipeline of syslog or NATS sources only shows an empty file list).
// The banned addresses are listed in the order they were banned, as
// fail2ban lists them.
func writeF2bPipeline(w io.Writer, st daemon.PipelineStatus) {
	var files, journal []string
	for _, s := range st.Sources {
		if kind, what, _ := strings.Cut(s.Watching, " "); kind == "file" {
			files = append(files, strings.Split(what, ", ")...)
		} else if kind == "journald" {
			journal = append(journal, journalMatches(what))
		}
	}
	filter := []f2bItem{
		{label: "Currently failed", value: strconv.Itoa(st.Filter.CurrentlyFailed)},
		{label: "Total failed", value: strconv.FormatUint(st.Filter.TotalFailed, 10)},
	}
	if len(files) > 0 || len(journal) == 0 {
		filter = append(filter, f2bItem{label: "File list", value: strings.Join(files, " ")})
	}
	if len(journal) > 0 {
		filter = append(filter, f2bItem{label: "Journal matches", value: strings.Join(journal, " + ")})
	}
	bans := slices.Clone(st.Actions.Bans)
	slices.SortStableFunc(bans, func(a, b daemon.Ban) int { return a.Time.Compare(b.Time) })
	writeF2bTree(w, "Status for the jail: "+st.Pipeline, []f2bItem{
		{label: "Filter", children: filter},
		{label: "Actions", children: []f2bItem{
			{label: "Currently banned", value: strconv.Itoa(st.Actions.CurrentlyBanned)},
			{label: "Total banned", value: strconv.FormatUint(st.Actions.TotalBanned, 10)},
			{label: "Banned IP list", value: strings.Join(addrsOf(bans), " ")},
		}},
	})
}

// journalMatches is the match part of a journald source's description
// ("journald [namespace=N|directory=D|files=F] MATCH..."), as fail2ban
// prints its journalmatch: terms separated by spaces, "+" between groups.
func journalMatches(what string) string {
	terms := strings.Fields(what)
	if len(terms) > 0 && slices.ContainsFunc([]string{"namespace=", "directory=", "files="},
		func(p string) bool { return strings.HasPrefix(terms[0], p) }) {
		terms = terms[1:] // which journal, not a match (fields are upper case)
	}
	return strings.Join(terms, " ")
}

func addrsOf(bans []daemon.Ban) []string {
	out := make([]string, len(bans))
	for i, b := range bans {
		out[i] = b.Addr
	}
	return out
}

// writeF2bBanned is `fail2ban-client banned`: a Python list with a
// dictionary {jail: [addresses]} per pipeline, every running or stopped
// pipeline (in name order) even without a ban, each one's addresses in the
// order their bans end (fail2ban's order; a permanent ban last).
func writeF2bBanned(w io.Writer, pipelines []string, bans []daemon.Ban) {
	byPipeline := map[string][]daemon.Ban{}
	for _, b := range bans {
		byPipeline[b.Pipeline] = append(byPipeline[b.Pipeline], b)
	}
	var parts []string
	for _, name := range slices.Sorted(slices.Values(pipelines)) {
		ps := byPipeline[name]
		slices.SortStableFunc(ps, func(a, b daemon.Ban) int {
			return cmp.Or(banEnd(a).Compare(banEnd(b)), a.Time.Compare(b.Time))
		})
		parts = append(parts, "{"+pyRepr(name)+": "+pyList(addrsOf(ps))+"}")
	}
	fmt.Fprintln(w, "["+strings.Join(parts, ", ")+"]")
}

// banEnd is when a ban ends, a permanent one after every other.
func banEnd(b daemon.Ban) time.Time {
	if b.Until == nil {
		return time.Unix(1<<62, 0)
	}
	return *b.Until
}

// writeF2bBannedAddrs is `fail2ban-client banned ADDR...`: for each
// address in the order asked, the list of pipelines (in name order) that
// ban it.
func writeF2bBannedAddrs(w io.Writer, found []daemon.AddrBans) {
	parts := make([]string, len(found))
	for i, a := range found {
		var names []string
		for _, b := range a.Bans {
			names = append(names, b.Pipeline)
		}
		slices.Sort(names)
		parts[i] = pyList(slices.Compact(names))
	}
	fmt.Fprintln(w, "["+strings.Join(parts, ", ")+"]")
}

// pyList is the Python repr of a list of strings.
func pyList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = pyRepr(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// pyRepr is the Python repr of a string (pipeline names and addresses
// are printable ASCII): single quotes, or double quotes when it
// holds a single quote and no double one; backslashes and the quote
// escaped; control characters as \t, \n, \r or \xNN.
func pyRepr(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == q:
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// statusFail2ban is `logjail status [PIPELINE] --format fail2ban`.
func statusFail2ban(c *cli.Context) error {
	if c.NArg() > 1 {
		return fmt.Errorf("usage: logjail status [PIPELINE] [--json | --format FORMAT]")
	}
	cl := daemon.NewClient(c.String("socket"))
	if c.NArg() == 0 {
		st, err := cl.Status(c.Context)
		if err != nil {
			return err
		}
		writeF2bOverview(c.App.Writer, st)
		return nil
	}
	st, err := cl.PipelineStatus(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	writeF2bPipeline(c.App.Writer, st)
	return nil
}

// bannedFail2ban is `logjail banned [ADDR...] --format fail2ban`. An
// address that is not banned is an answer, exit code 0, as fail2ban-client
// gives; an error is exit code 2, as without --format.
func bannedFail2ban(c *cli.Context) error {
	cl := daemon.NewClient(c.String("socket"))
	if c.NArg() > 0 {
		found, err := cl.BannedAddrs(c.Context, c.Args().Slice())
		if err != nil {
			return &exitError{err: err, code: 2}
		}
		writeF2bBannedAddrs(c.App.Writer, found)
		return nil
	}
	st, err := cl.Status(c.Context)
	if err != nil {
		return err
	}
	bans, err := cl.Banned(c.Context)
	if err != nil {
		return err
	}
	writeF2bBanned(c.App.Writer, append(st.Pipelines, st.Stopped...), bans) // a stopped pipeline's bans are enforced too
	return nil
}
