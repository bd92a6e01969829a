package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// manDescription is the DESCRIPTION of logjail(1); `--help` has none, so
// the page adds what a reader of a man page looks for: the files and the
// page about the configuration.
const manDescription = `logjail reads log streams (files, the journal, syslog, NATS), recognises
failed logins and other abuse, counts them per source address in sliding windows, and bans the
offenders in the kernel firewall (an nftables table, **inet logjail** by default) or publishes ban events.
Each pipeline (a fail2ban jail) is declared in YAML: see **logjail.yaml**(5).

The packaged service runs **logjail run --config /etc/logjail/logjail.yaml** as the system user
**logjail**; its state is in */var/lib/logjail* and its control socket is */run/logjail/logjail.sock*,
which the client commands (status, banned, ban, unban, reload, ping) use.`

// docsCommand prints what the Debian package ships from the command
// definitions themselves (cmd/mkdeb runs it on the binary it built):
// logjail(1) as roff, or the fish completion. It is hidden: neither --help
// nor the completions list it.
func docsCommand() *cli.Command {
	return &cli.Command{
		Name:      "docs",
		Usage:     "print logjail(1) as roff (man) or the fish completion (fish)",
		ArgsUsage: "man|fish",
		Hidden:    true,
		Action: func(c *cli.Context) error {
			var (
				out string
				err error
			)
			switch c.Args().First() {
			case "man":
				page := *c.App
				page.Description = manDescription
				out, err = page.ToManWithSection(1)
			case "fish":
				out, err = c.App.ToFishCompletion()
			default:
				return fmt.Errorf("usage: logjail docs man|fish")
			}
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(c.App.Writer, out)
			return err
		},
	}
}
