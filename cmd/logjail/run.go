package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/urfave/cli/v2"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/daemon/buildinfo"
	"github.com/logjail/logjail/pipelines"
)

func socketFlag() cli.Flag {
	return &cli.StringFlag{Name: "socket", Value: daemon.DefaultSocket, Usage: "control socket `PATH`", EnvVars: []string{"LOGJAIL_SOCKET"}}
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the enabled pipelines",
		Flags: []cli.Flag{
			configFlag(),
			&cli.StringFlag{Name: "state-dir", Value: daemon.DefaultStateDir, Usage: "`DIR` of the state store (bans, positions)"},
			socketFlag(),
			&cli.BoolFlag{Name: "dry-run", Usage: "log decisions, touch no firewall"},
			&cli.StringFlag{Name: "metrics", Usage: "serve Prometheus metrics on `ADDR` (e.g. 127.0.0.1:9469), at /metrics"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		},
		Action: func(c *cli.Context) error {
			// Buffered: a flood of bans logs a line each (see LogWriter).
			logOut := daemon.NewLogWriter(os.Stderr)
			defer logOut.Close()
			log, err := newLogger(c.String("log-format"), c.String("log-level"), logOut)
			if err != nil {
				return err
			}
			cfg, err := pipelines.Load(c.String("config"))
			if err != nil {
				return err
			}
			for _, w := range cfg.Warnings {
				log.Warn(w)
			}
			// SIGHUP reloads the configuration, as `logjail reload` does.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			reload := make(chan struct{}, 1)
			go func() {
				for range hup {
					select {
					case reload <- struct{}{}:
					default: // one is already pending
					}
				}
			}()
			return daemon.Run(c.Context, daemon.Options{
				Config:     cfg,
				ConfigPath: c.String("config"),
				Metrics:    c.String("metrics"),
				Reload:     reload,
				StateDir:   c.String("state-dir"),
				Socket:     c.String("socket"),
				DryRun:     c.Bool("dry-run"),
				Log:        log,
				Build:      buildinfo.Read(version),
				// Under systemd (Type=notify) the unit counts as started once
				// the bans are restored and the socket answers; elsewhere
				// this does nothing. Then what only starting needed is given
				// back (see trimAfterStart).
				Ready: func() {
					_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyReady)
					trimAfterStart()
				},
			})
		},
	}
}

func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var handler func(io.Writer) slog.Handler
	switch strings.ToLower(format) {
	case "text":
		handler = func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, opts) }
	case "json":
		handler = func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, opts) }
	default:
		return nil, fmt.Errorf("--log-format: %q is neither text nor json", format)
	}
	if stderrIsJournal() { // each line with its syslog priority (see journalprio.go)
		return slog.New(newPriorityHandler(handler, w)), nil
	}
	return slog.New(handler(w)), nil
}

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:  "validate",
		Usage: "check a configuration without running it",
		Flags: []cli.Flag{configFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return fmt.Errorf("usage: logjail validate [--config PATH] (takes no arguments)")
			}
			cfg, err := pipelines.Load(c.String("config"))
			if err != nil {
				return err
			}
			var enabled []string
			for _, p := range cfg.Enabled() {
				enabled = append(enabled, p.Name)
			}
			fmt.Fprintf(c.App.Writer, "%s: OK (%d pipelines, enabled: %s)\n", strings.Join(cfg.Files, ", "), len(cfg.Pipelines), strings.Join(enabled, ", "))
			if len(enabled) == 0 {
				fmt.Fprintln(c.App.ErrWriter, "warning: no pipeline is enabled; `logjail run` refuses to start with this configuration")
			}
			for _, w := range cfg.Warnings {
				fmt.Fprintln(c.App.ErrWriter, "warning:", w)
			}
			for _, w := range pipelines.HostWarnings(cfg) {
				fmt.Fprintln(c.App.ErrWriter, "warning:", w)
			}
			return nil
		},
	}
}

func reloadCommand() *cli.Command {
	return &cli.Command{
		Name:  "reload",
		Usage: "apply the changed configuration without losing windows or bans (like SIGHUP)",
		Flags: []cli.Flag{socketFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return fmt.Errorf("usage: logjail reload (takes no arguments)")
			}
			st, err := daemon.NewClient(c.String("socket")).Reload(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, st)
			}
			fmt.Fprintf(c.App.Writer, "reloaded; pipelines: %s\n", strings.Join(st.Pipelines, ", "))
			return nil
		},
	}
}
