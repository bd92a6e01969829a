// Command logjail is a log-driven intrusion-prevention daemon: it reads log
// streams, counts failures per address and bans offenders in nftables.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/logjail/logjail/daemon/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := app()
	if err := a.RunContext(ctx, interspersed(a, os.Args)); err != nil {
		code, print := exitCode(err)
		if print {
			fmt.Fprintln(os.Stderr, "logjail:", err)
		}
		os.Exit(code)
	}
}

// version may be set at build time: go build -ldflags "-X main.version=1.2.3".
// Without it, the version comes from the build information Go records in
// the binary (see buildinfo.Read).
var version = ""

func app() *cli.App {
	a := &cli.App{
		Name:                 "logjail",
		Usage:                "ban the addresses your logs accuse (a streaming fail2ban)",
		Version:              buildinfo.Read(version).String(),
		EnableBashCompletion: true,
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(c.App.ErrWriter, "logjail: unknown command %q; see logjail --help\n", name)
			os.Exit(2)
		},
		Commands: []*cli.Command{
			journalErrors(runCommand()),
			withFormat(statusCommand(), statusFail2ban),
			pingCommand(),
			withFormat(bannedCommand(), bannedFail2ban),
			explainCommand(),
			banCommand(),
			unbanCommand(),
			getCommand(), setCommand(),
			stopCommand(), startCommand(),
			reloadCommand(),
			testCommand(),
			filtersCommand(),
			simulateCommand(),
			validateCommand(),
			configCommand(),
			importCommand(),
			exportCommand(), importStateCommand(),
			stateCommand(),
			docsCommand(),
		},
	}
	jsonErrors(a.Commands)
	documentExitCodes(a.Commands, "")
	hideHelpCommands(a.Commands)
	return a
}

// hideHelpCommands leaves out the "help" subcommand urfave/cli gives each
// command: it is listed in every command's --help, and completion offered
// it after a command's arguments, where it is an argument (`logjail get
// sshd help`: an unknown key). --help stays; `logjail help CMD` too.
func hideHelpCommands(cmds []*cli.Command) {
	for _, c := range cmds {
		c.HideHelpCommand = true
		hideHelpCommands(c.Subcommands)
	}
}
