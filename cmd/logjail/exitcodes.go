package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// exitCodes is each command's line "Exit codes: ..." in its --help, by its
// full name ("state check"); README's "Command line" has the same table.
// Every command also exits 1 for a usage error (wrong arguments or flags)
// and logjail exits 2 for an unknown command. TestExitCodes runs the
// binary for each command's success, usage error and missing daemon.
var exitCodes = map[string]string{
	"run":             "0 when stopped by SIGTERM or SIGINT; 1 when it cannot start (configuration, lock, firewall, state store) or fails, or for a usage error.",
	"status":          "0 with the status; 1 for an error (no daemon, no such pipeline) or a usage error.",
	"ping":            "0 when the daemon answered; 1 when none answered within --timeout, or for a usage error.",
	"banned":          "without ADDR: 0 with the list, 1 for an error. With ADDR...: 0 when every address is banned, 1 when one is not, 2 for an error (an invalid address, no daemon); with --format fail2ban 0 whether or not they are banned, 2 for an error. 1 for a usage error.",
	"ban":             "0 when every address is banned; 1 when one is not (each named), for an error (no daemon, no such pipeline) or a usage error.",
	"unban":           "0 when every address is unbanned; 1 when one is not (each named), for an error (no daemon) or a usage error.",
	"reload":          "0 when the new configuration runs; 1 when it is refused (the running one stays), for no daemon or a usage error.",
	"test":            "0 when the log was read, whatever matched; 1 for an error (the filter, the log) or a usage error.",
	"filters":         "0 with the list (or the filter) printed; 1 for a NAME that is not shipped, or a usage error.",
	"validate":        "0 when the configuration is valid; 1 when it is not, or for a usage error.",
	"import-fail2ban": "0 with the YAML printed (warnings included); 1 when the configuration cannot be read, or for a usage error.",
	"export":          "0 with the state written; 1 for an error (no daemon and no readable store) or a usage error.",
	"import":          "0 when the state was imported; 1 when it is refused (a running logjail, a bad document) or for a usage error.",
	"explain":         "0 when a pipeline bans ADDR now; 1 when none does (an answer, not an error), or for a usage error; 2 for an error (an invalid address, an unknown pipeline, no daemon).",
	"get":             "0 with the value; 1 for an error (no daemon, no such pipeline) or a usage error; 2 for an unknown key.",
	"set":             "0 once the value is applied; 1 for an error (no daemon, no such pipeline, the daemon failed) or a usage error; 2 for an unknown key or a value that does not parse (nothing changed); 3 when the pipeline is stopped.",
	"stop":            "0 once the pipeline is stopped (with --unban, also once a stopped pipeline's bans are lifted); 1 for an error (no daemon, no such pipeline, the daemon failed) or a usage error; 3 when it is stopped already (without --unban).",
	"start":           "0 once the pipeline runs again; 1 for an error (no daemon, no such pipeline, the daemon failed) or a usage error; 3 when it runs already.",
	"simulate":        "0 once the report is printed, whether anything was banned or not; 1 for an error (the configuration, a LOG that cannot be read, an unknown --pipeline) or a usage error.",
	"config show":     "0 with the configuration printed; 1 when it does not load, or for a usage error.",
	"state check":     "0 when the store is sound; 1 when it is damaged or cannot be read, or for a usage error.",
	"state salvage":   "0 when the store was replaced; 1 when it is refused (a running logjail) or fails, or for a usage error.",
}

// documentExitCodes ends the --help description of each command (and
// subcommand) in exitCodes with its exit codes.
func documentExitCodes(cmds []*cli.Command, parent string) {
	for _, cmd := range cmds {
		name := strings.TrimSpace(parent + " " + cmd.Name)
		documentExitCodes(cmd.Subcommands, name)
		line, ok := exitCodes[name]
		if !ok {
			continue
		}
		if cmd.Description != "" {
			cmd.Description += "\n\n"
		}
		cmd.Description += wrap("Exit codes: "+line, 96)
	}
}

// wrap breaks text into lines of at most width bytes, between words.
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(text) {
		switch {
		case i == 0:
		case n+1+len(w) > width:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
