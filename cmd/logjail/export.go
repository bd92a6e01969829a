package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/state/store"
)

func stateDirFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "state-dir", Value: daemon.DefaultStateDir, Usage: "`DIR` of the state store (bans, positions)"},
		&cli.BoolFlag{Name: "dry-run", Usage: "the dry run's store (DIR/dry-run), the one logjail run --dry-run uses"},
	}
}

// storeDir is the directory of the store the flags name.
func storeDir(c *cli.Context) string {
	if c.Bool("dry-run") {
		return filepath.Join(c.String("state-dir"), "dry-run")
	}
	return c.String("state-dir")
}

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "write the state (bans, ban history, windows, positions) as JSON, for a backup or another host",
		Description: "Asks the running logjail through its control socket; when none answers, reads the\n" +
			"state store under --state-dir. `logjail import` reads the document back.",
		Flags: append([]cli.Flag{
			socketFlag(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` (default: standard output)"},
		}, stateDirFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return fmt.Errorf("usage: logjail export [-o FILE] [--socket PATH] [--state-dir DIR] (takes no arguments)")
			}
			out := c.String("output")
			if out == "" || out == "-" {
				_, err := exportState(c, c.App.Writer)
				return err
			}
			// A file appears whole or not at all, and is checked before.
			f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
			if err != nil {
				return err
			}
			defer os.Remove(f.Name())
			from, err := exportState(c, f)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			doc, err := os.ReadFile(f.Name())
			if err != nil {
				return err
			}
			st, err := store.CheckExport(bytes.NewReader(doc))
			if err != nil {
				return fmt.Errorf("the export does not read back: %w", err)
			}
			if err := os.Rename(f.Name(), out); err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "exported %s from %s to %s\n", recordCounts(st), from, out)
			return nil
		},
	}
}

// exportState writes the export document of the running logjail, or of the
// store when none runs, and says which.
func exportState(c *cli.Context, w io.Writer) (from string, err error) {
	cl := daemon.NewClient(c.String("socket"))
	err = cl.Export(c.Context, w)
	if err == nil {
		return "the running logjail", nil
	}
	if !daemon.IsNotRunning(err) {
		return "", err
	}
	dir := storeDir(c)
	s, err := store.OpenReadOnly(dir)
	if errors.Is(err, store.ErrLocked) {
		return "", fmt.Errorf("the state store in %s is in use by a logjail that does not answer on %s: give its --socket", dir, cl.Socket())
	}
	if err != nil {
		return "", fmt.Errorf("no logjail answers on %s, and %w", cl.Socket(), err)
	}
	defer s.Close()
	return "the state store in " + dir, s.Export(w)
}

func importStateCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "read a state export (logjail export) into the state store, while logjail is stopped",
		ArgsUsage: "FILE",
		Description: "Checks the whole document first, then writes it in one transaction. Without --replace the\n" +
			"document is merged: of a ban in both, the one that ends later stays; ban history keeps the\n" +
			"higher count; windows keep both's failures; the store's source positions stay. With\n" +
			"--replace the store's bans, history, windows and positions are dropped first.\n" +
			"logjail restores the imported bans into the firewall when it starts. FILE - is standard input.",
		Flags: append([]cli.Flag{
			jsonFlag(),
			&cli.BoolFlag{Name: "replace", Usage: "drop the store's state first (a restore) instead of merging"},
		}, stateDirFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("usage: logjail import FILE [--state-dir DIR] [--replace]")
			}
			name := c.Args().First()
			var (
				doc []byte
				err error
			)
			if name == "-" {
				doc, err = io.ReadAll(os.Stdin)
			} else {
				doc, err = os.ReadFile(name)
			}
			if err != nil {
				return err
			}
			if _, err := store.CheckExport(bytes.NewReader(doc)); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			dir := storeDir(c)
			if ro, err := store.OpenReadOnly(dir); errors.Is(err, store.ErrLocked) {
				return fmt.Errorf("logjail is running (state store in %s locked): stop it, import, start it", dir)
			} else if err == nil {
				ro.Close()
			}
			s, err := store.Open(dir)
			if err != nil {
				return err
			}
			st, err := store.Import(bytes.NewReader(doc), s, c.Bool("replace"))
			if cerr := s.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, st)
			}
			how := "merged into"
			if st.Replaced {
				how = "replaced"
			}
			w := c.App.Writer
			fmt.Fprintf(w, "imported %s: %s (%s the state store in %s)\n", name, recordCounts(st), how, dir)
			if st.Kept > 0 {
				fmt.Fprintf(w, "kept %s of the store instead of the file's (bans that end no earlier; this host's source positions)\n", plural(st.Kept, "record", "records"))
			}
			if len(st.Pipelines) > 0 {
				fmt.Fprintf(w, "pipelines: %s\n", strings.Join(st.Pipelines, ", "))
			}
			fmt.Fprintln(w, "start logjail to enforce the bans; those of pipelines its configuration does not enable are dropped")
			return nil
		},
	}
}

func recordCounts(st store.ImportStats) string {
	return strings.Join([]string{
		plural(st.Bans, "ban", "bans"),
		plural(st.History, "history record", "history records"),
		plural(st.Windows, "window", "windows"),
		plural(st.Positions, "position", "positions"),
	}, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
