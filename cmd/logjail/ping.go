package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logjail/logjail/daemon"
)

// pingCommand is fail2ban-client's ping: does a daemon answer on the
// control socket, and which build is it. It exits 0 when one answers and 1
// (with an error naming the socket) when none does within --timeout.
func pingCommand() *cli.Command {
	return &cli.Command{
		Name:  "ping",
		Usage: "check that the daemon answers on the control socket, and print its version",
		Description: "Prints \"pong from logjail version VERSION\" and exits 0 when the daemon answers;\n" +
			"exits 1 with an error naming the socket when nothing answers within --timeout.",
		Flags: []cli.Flag{
			socketFlag(), jsonFlag(),
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "wait at most `DURATION` for the answer"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return fmt.Errorf("usage: logjail ping [--json] [--timeout DURATION] (takes no arguments)")
			}
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			cl := daemon.NewClient(c.String("socket"))
			pong, err := cl.Ping(ctx)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, pong)
			}
			fmt.Fprintf(c.App.Writer, "pong from logjail version %s\n", pong.Build)
			return nil
		},
	}
}
