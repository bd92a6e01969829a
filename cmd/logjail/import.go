package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/logjail/logjail/pipelines/fail2banimport"
)

func importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import-fail2ban",
		Usage:     "print logjail YAML for the enabled jails of a fail2ban configuration",
		ArgsUsage: "[DIR]",
		Description: "Reads DIR/jail.conf, jail.d/*.conf, jail.local and jail.d/*.local (default DIR: /etc/fail2ban)\n" +
			"with fail2ban's precedence and prints a logjail configuration on standard output, [DEFAULT]\n" +
			"as its defaults block, every path absolute; what cannot be translated is a warning on standard\n" +
			"error naming the jail (or [DEFAULT], once) and the option.",
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return fmt.Errorf("usage: logjail import-fail2ban [DIR]")
			}
			dir := "/etc/fail2ban"
			if c.NArg() == 1 {
				dir = c.Args().First()
			}
			text, warnings, err := fail2banimport.Import(dir)
			if err != nil {
				return err
			}
			for _, w := range warnings {
				fmt.Fprintln(c.App.ErrWriter, "warning:", w)
			}
			_, err = fmt.Fprint(c.App.Writer, text)
			return err
		},
	}
}
