package main

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/urfave/cli/v2"
)

// exitError ends logjail with code; err nil means the outcome is already
// printed (an answer such as "not banned", or a JSON error), so main
// prints nothing more. It is not a cli.ExitCoder: urfave/cli would exit
// from inside Run.
type exitError struct {
	err  error
	code int
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitCode returns the code err ends logjail with (1 unless it says
// otherwise) and whether its message is still to be printed.
func exitCode(err error) (code int, print bool) {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, ee.err != nil
	}
	return 1, true
}

// apiErrorJSON is an error under --json: {"error": "..."} on stderr, so
// that stdout holds only the command's document.
type apiErrorJSON struct {
	Error string `json:"error"`
}

// jsonErrors makes the commands with a --json flag (and their
// subcommands') report their errors as JSON when it is given, with the
// same exit code.
func jsonErrors(cmds []*cli.Command) {
	for _, cmd := range cmds {
		jsonErrors(cmd.Subcommands)
		if cmd.Action == nil || !slices.ContainsFunc(cmd.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), "json") }) {
			continue
		}
		action := cmd.Action
		cmd.Action = func(c *cli.Context) error {
			err := action(c)
			if err == nil || !c.Bool("json") {
				return err
			}
			return printJSONError(c.App.ErrWriter, err)
		}
	}
}

// printJSONError writes err as JSON (unless it is printed already) and
// returns what ends logjail with its exit code, silently.
func printJSONError(w io.Writer, err error) error {
	code, print := exitCode(err)
	if print {
		_ = printJSON(w, apiErrorJSON{Error: err.Error()})
	}
	return &exitError{code: code}
}
