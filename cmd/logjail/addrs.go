package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/logjail/logjail/daemon"
)

// Commands on several addresses: `banned ADDR…` asks the daemon which bans
// cover each; `ban PIPELINE ADDR…` and `unban ADDR…` send one request per
// address, so each is its own decision, stored before it is reported, and
// one that fails does not hold back the others.

// lookupBanned is `logjail banned ADDR…`, grep's exit codes: 0 when every
// address is banned somewhere, 1 when one is not, 2 for an error (a bad
// address, no daemon).
func lookupBanned(c *cli.Context) error {
	found, err := daemon.NewClient(c.String("socket")).BannedAddrs(c.Context, c.Args().Slice())
	if err != nil {
		return &exitError{err: err, code: 2}
	}
	var out error
	for _, a := range found {
		if len(a.Bans) == 0 {
			out = &exitError{code: 1} // an answer, not an error: nothing more to print
		}
	}
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, found); err != nil {
			return err
		}
		return out
	}
	for _, a := range found {
		if len(a.Bans) == 0 {
			fmt.Fprintf(c.App.Writer, "%s\tnot banned\n", a.Addr)
		}
		for _, b := range a.Bans {
			fmt.Fprintf(c.App.Writer, "%s\tbanned\t%s (%d failures, ban #%d)\n", a.Addr, banLine(b), b.Failures, b.BanCount)
		}
	}
	return out
}

// BanResult is one address of `logjail ban PIPELINE ADDR… --json` with
// several addresses: its ban, or why it is not banned.
type BanResult struct {
	Addr  string      `json:"addr"` // as asked
	Ban   *daemon.Ban `json:"ban,omitempty"`
	Error string      `json:"error,omitempty"`
}

// UnbanAddrResult is one address of `logjail unban ADDR… --json` with
// several addresses: the pipelines it was unbanned from, or why not.
type UnbanAddrResult struct {
	Addr      string   `json:"addr"` // as asked
	Pipelines []string `json:"pipelines"`
	Count     int      `json:"count"`
	Error     string   `json:"error,omitempty"`
}

// banAddrs bans each address in turn and reports each: text lines on
// stdout for the banned ones, an error line on stderr for each other; the
// exit code is 1 when any failed, naming them.
func banAddrs(c *cli.Context, pipeline string, addrs []string) error {
	cl := daemon.NewClient(c.String("socket"))
	results := make([]BanResult, len(addrs))
	failed, err := eachAddr(c, addrs, func(i int, addr string) error {
		results[i].Addr = addr
		b, err := cl.Ban(c.Context, daemon.BanRequest{Pipeline: pipeline, Addr: addr, For: c.String("for")})
		if err != nil {
			results[i].Error = err.Error()
			return err
		}
		results[i].Ban = &b
		if !c.Bool("json") {
			fmt.Fprintln(c.App.Writer, "banned", banLine(b))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return reportAddrs(c, results, "banned", failed, len(addrs))
}

// unbanAddrs lifts each address's bans in turn and reports each, as
// banAddrs does.
func unbanAddrs(c *cli.Context, addrs []string) error {
	cl := daemon.NewClient(c.String("socket"))
	results := make([]UnbanAddrResult, len(addrs))
	failed, err := eachAddr(c, addrs, func(i int, addr string) error {
		results[i] = UnbanAddrResult{Addr: addr, Pipelines: []string{}}
		r, err := cl.Unban(c.Context, daemon.UnbanRequest{Addr: addr, Pipeline: c.String("pipeline")})
		if err != nil {
			results[i].Error = err.Error()
			return err
		}
		results[i].Pipelines, results[i].Count = r.Pipelines, r.Count
		if !c.Bool("json") {
			fmt.Fprintf(c.App.Writer, "unbanned %s from %s\n", r.Addr, strings.Join(r.Pipelines, ", "))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return reportAddrs(c, results, "unbanned", failed, len(addrs))
}

// eachAddr runs do for each address in turn and returns the addresses it
// failed for, each failure also on stderr in text mode. A daemon that is
// not running ends it with that error: no address can be done, so one
// error rather than one each.
func eachAddr(c *cli.Context, addrs []string, do func(i int, addr string) error) (failed []string, err error) {
	for i, addr := range addrs {
		err := do(i, addr)
		if err == nil {
			continue
		}
		if daemon.IsNotRunning(err) {
			return nil, err
		}
		failed = append(failed, addr)
		if !c.Bool("json") {
			fmt.Fprintln(c.App.ErrWriter, "logjail:", err)
		}
	}
	return failed, nil
}

// reportAddrs prints the results under --json, and returns the error
// naming the failed addresses (exit code 1).
func reportAddrs[R any](c *cli.Context, results []R, done string, failed []string, n int) error {
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, results); err != nil {
			return err
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d addresses not %s: %s", len(failed), n, done, strings.Join(failed, " "))
}
