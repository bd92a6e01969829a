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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := app()
	if err := a.RunContext(ctx, interspersed(a, os.Args)); err != nil {
		fmt.Fprintln(os.Stderr, "logjail:", err)
		os.Exit(1)
	}
}

func app() *cli.App {
	return &cli.App{
		Name:                 "logjail",
		Usage:                "ban the addresses your logs accuse (a streaming fail2ban)",
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		Commands: []*cli.Command{
			runCommand(),
			statusCommand(),
			bannedCommand(),
			banCommand(),
			unbanCommand(),
			testCommand(),
			validateCommand(),
		},
	}
}
