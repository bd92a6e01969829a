package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/pipelines"
)

// Run-time control, fail2ban-client's get, set, stop and start: what set,
// stop and start change lasts until the next reload or restart.

// runtimeError gives a daemon's refusal its exit code (exitCodes: 2 for a
// refused key or value, 3 for a state that refuses it).
func runtimeError(err error) error {
	var ae *daemon.APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusBadRequest:
			return &exitError{err: err, code: 2}
		case http.StatusConflict:
			return &exitError{err: err, code: 3}
		}
	}
	return err
}

// answer prints a command's answer: its JSON with --json, else text.
func answer[T any](c *cli.Context, res T, err error, text func(io.Writer, T)) error {
	if err != nil {
		return runtimeError(err)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	text(c.App.Writer, res)
	return nil
}

// usageError is wrong arguments: exit code 1, as for every command.
func usageError(format string, args ...any) error {
	return &exitError{err: fmt.Errorf(format, args...), code: 1}
}

func getCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "print a pipeline's setting as it runs (set values included), like fail2ban-client get",
		ArgsUsage: "PIPELINE KEY",
		Description: "KEY is one of: " + strings.Join(pipelines.GettableKeys, ", ") + "\n" +
			"(fail2ban's bantime.increment, bantime.factor, … name the same keys). Values print as the YAML writes them\n" +
			"(\"\" for no ignorecommand, off for no bantime_increment); lists one item a line, bantime_increment one field a line.",
		Flags: []cli.Flag{socketFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usageError("usage: logjail get PIPELINE KEY [--json]")
			}
			s, err := daemon.NewClient(c.String("socket")).Get(c.Context, c.Args().Get(0), c.Args().Get(1))
			return answer(c, s, err, func(w io.Writer, s daemon.Setting) { writeValue(w, s.Value) })
		},
	}
}

// writeValue prints a setting for get: a list one item a line, an object
// one key a line, each value as valueText writes it.
func writeValue(w io.Writer, v any) {
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			fmt.Fprintln(w, x)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			fmt.Fprintf(w, "%s: %s\n", k, valueText(v[k]))
		}
	default:
		fmt.Fprintln(w, valueText(v))
	}
}

// valueText writes a setting's value on one line as the YAML writes it, as
// config show does (see yamlInline): "" for no ignorecommand, a list as
// [a, b], bantime_increment as {factor: 2, formula: default, …}; null,
// bantime_increment off, as off.
func valueText(v any) string {
	if v == nil {
		return "off"
	}
	return yamlInline(v)
}

func setCommand() *cli.Command {
	return &cli.Command{
		Name:      "set",
		Usage:     "change a pipeline's setting until the next reload or restart, like fail2ban-client set",
		ArgsUsage: "PIPELINE KEY VALUE",
		Description: "KEY is one of: " + strings.Join(pipelines.SettableKeys, ", ") + "\n" +
			"(fail2ban's bantime.increment, bantime.factor, … name the same keys). VALUE is written as in the YAML\n" +
			"(10m, 1d, -1; an address, CIDR or host name; true or false). The answer comes once the change is in\n" +
			"effect, and the bans an addignoreip now refuses are lifted. Run-time only: a reload or restart returns\n" +
			"to the configuration file.",
		Flags: []cli.Flag{socketFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 3 {
				return usageError("usage: logjail set PIPELINE KEY VALUE [--json]")
			}
			req := daemon.SetRequest{Pipeline: c.Args().Get(0), Key: c.Args().Get(1), Value: c.Args().Get(2)}
			res, err := daemon.NewClient(c.String("socket")).Set(c.Context, req)
			return answer(c, res, err, func(w io.Writer, res daemon.SetResult) {
				fmt.Fprintf(w, "%s: %s = %s (%s)\n", res.Pipeline, res.Key, valueText(res.Value), res.Note)
				for _, a := range res.Lifted {
					fmt.Fprintf(w, "unbanned %s (now refused by the gate)\n", a)
				}
			})
		},
	}
}

func stopCommand() *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "stop a pipeline's sources and matching, like fail2ban-client stop JAIL",
		ArgsUsage: "PIPELINE",
		Description: "Its bans stay in the firewall and the state store and expire there on their own; banned, explain,\n" +
			"ban and unban still see them (marked stopped). With --unban they are lifted first, as fail2ban's actionstop\n" +
			"does, or now when it is stopped already. Its read positions are stored: logjail start reads on from there.\n" +
			"Run-time only: a reload or restart starts it again.",
		Flags: []cli.Flag{socketFlag(), jsonFlag(), &cli.BoolFlag{Name: "unban", Usage: "lift the pipeline's bans first"}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("usage: logjail stop PIPELINE [--unban] [--json]")
			}
			res, err := daemon.NewClient(c.String("socket")).Stop(c.Context, daemon.StopRequest{Pipeline: c.Args().First(), Unban: c.Bool("unban")})
			return answer(c, res, err, func(w io.Writer, res daemon.StopResult) {
				if c.Bool("unban") {
					fmt.Fprintf(w, "pipeline %s stopped; %d bans lifted\n", res.Pipeline, res.Unbanned)
				} else {
					fmt.Fprintf(w, "pipeline %s stopped; its bans stay until they expire (logjail start %s resumes it)\n", res.Pipeline, res.Pipeline)
				}
			})
		},
	}
}

func startCommand() *cli.Command {
	return &cli.Command{
		Name:        "start",
		Usage:       "start a stopped pipeline again, like fail2ban-client start JAIL",
		ArgsUsage:   "PIPELINE",
		Description: "It reads on from the positions stored at stop, its windows, bans and set values kept.",
		Flags:       []cli.Flag{socketFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("usage: logjail start PIPELINE [--json]")
			}
			res, err := daemon.NewClient(c.String("socket")).Start(c.Context, c.Args().First())
			return answer(c, res, err, func(w io.Writer, res daemon.StopResult) { fmt.Fprintf(w, "pipeline %s started\n", res.Pipeline) })
		},
	}
}

// writeRuntimeStatus ends `logjail status PIPELINE`: its state when
// stopped, and the values set at run time.
func writeRuntimeStatus(w io.Writer, st daemon.PipelineStatus) {
	if st.State == "stopped" {
		fmt.Fprintf(w, "Stopped: its sources and matching (logjail start %s resumes them)\n", st.Pipeline)
	}
	if len(st.Overrides) == 0 {
		return
	}
	var set []string
	for _, k := range slices.Sorted(maps.Keys(st.Overrides)) {
		set = append(set, k+" "+valueText(st.Overrides[k]))
	}
	fmt.Fprintf(w, "Set at run time (until a reload or restart): %s\n", strings.Join(set, ", "))
}
