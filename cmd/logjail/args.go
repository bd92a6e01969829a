package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// completionFlag is urfave/cli's completion request. It counts only as the
// very last word, and only when no "--" comes before it.
var completionFlag = "--" + cli.BashCompletionFlag.Names()[0]

// interspersed moves a subcommand's flags ahead of its arguments, so that
// `logjail status sshd --json` works like `logjail status --json sshd`
// (urfave/cli/v2 stops reading flags at the first argument). Everything
// after "--" stays as it is, and so does a negative number or duration
// (`logjail set sshd bantime -1`): no flag's name starts with a digit.
//
// A completion request (a last --generate-bash-completion) goes on as
// typed: urfave/cli parses its words leniently, completes from the last
// one and runs nothing, whereas the "--" the reordering puts in front of
// the arguments would make it run the command instead.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 || completing(args) {
		return args
	}
	var cmd *cli.Command
	for _, c := range app.Commands {
		if c.HasName(args[1]) {
			cmd = c
		}
	}
	if cmd == nil {
		return args
	}
	// A command with subcommands (logjail state check): the same, one
	// level down.
	if len(cmd.Subcommands) > 0 {
		sub := interspersed(&cli.App{Commands: cmd.Subcommands}, args[1:])
		return append([]string{args[0]}, sub...)
	}
	flags, positional := split(cmd, args[2:])
	out := append([]string{args[0], args[1]}, flags...)
	if len(positional) > 0 {
		out = append(out, "--")
	}
	return append(out, positional...)
}

// completing tells whether args ask urfave/cli for completions.
func completing(args []string) bool {
	if args[len(args)-1] != completionFlag {
		return false
	}
	for _, a := range args {
		if a == "--" {
			return false
		}
	}
	return true
}

// split separates a command's words into its flags (each with its value,
// when the flag takes one) and its arguments, each kept in order.
func split(cmd *cli.Command, words []string) (flags, positional []string) {
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		d, ok := f.(cli.DocGenerationFlag)
		for _, n := range f.Names() {
			takesValue[n] = ok && d.TakesValue()
		}
	}
	for i := 0; i < len(words); i++ {
		a := words[i]
		if a == "--" {
			return flags, append(positional, words[i+1:]...)
		}
		if !isFlag(a) {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(words) {
			flags = append(flags, words[i+1])
			i++
		}
	}
	return flags, positional
}

// isFlag tells a flag from an argument: "-" alone is an argument (standard
// input), and so is a negative number or duration such as -1 or -1d.
func isFlag(word string) bool {
	return len(word) >= 2 && word[0] == '-' && (word[1] < '0' || word[1] > '9')
}
