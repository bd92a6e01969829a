package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/logjail/logjail/state/store"
)

// stateCommand groups what is done to a stopped logjail's store: check it,
// and salvage it (or start over) when it is damaged. Neither runs while a
// logjail holds the store.
func stateCommand() *cli.Command {
	return &cli.Command{
		Name:  "state",
		Usage: "check or salvage the state store (logjail stopped)",
		Subcommands: []*cli.Command{
			{
				Name:  "check",
				Usage: "report what is wrong with the state store; exit 0 when it is sound",
				Description: "Opens DIR/logjail.db read-only, runs bbolt's consistency check and reads every record\n" +
					"of every bucket as logjail does, counting the unreadable ones per bucket.",
				Flags: append([]cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"}}, stateDirFlags()...),
				Action: func(c *cli.Context) error {
					rep, err := store.Check(storeDir(c))
					if err != nil {
						return err
					}
					if c.Bool("json") {
						e := json.NewEncoder(c.App.Writer)
						e.SetIndent("", "  ")
						if err := e.Encode(rep); err != nil {
							return err
						}
					} else {
						printCheck(c, rep)
					}
					if !rep.Sound {
						return fmt.Errorf("state store %s is damaged: see `logjail state salvage --help`", rep.Path)
					}
					return nil
				},
			},
			{
				Name:  "salvage",
				Usage: "replace a damaged state store with one holding its readable records",
				Description: "Copies every readable record of DIR/logjail.db into a new store, moves the damaged file\n" +
					"aside to DIR/logjail.db.broken-TIMESTAMP and says what was lost. With --start-over nothing\n" +
					"is copied: the new store is empty (then logjail removes from nftables the bans it no longer\n" +
					"knows). Refuses while a logjail holds the store.",
				Flags: append([]cli.Flag{&cli.BoolFlag{Name: "start-over", Usage: "begin with an empty store (when nothing can be salvaged)"}}, stateDirFlags()...),
				Action: func(c *cli.Context) error {
					rep, err := store.Salvage(storeDir(c), c.Bool("start-over"))
					if err != nil {
						return err
					}
					w := c.App.Writer
					fmt.Fprintf(w, "damaged store moved to %s\n", rep.Moved)
					if rep.StartedOver {
						fmt.Fprintln(w, "started over: the new store is empty")
						return nil
					}
					for _, name := range slices.Sorted(maps.Keys(rep.Kept)) {
						fmt.Fprintf(w, "%-10s kept %d, lost %d", name, rep.Kept[name], rep.Lost[name])
						if why := rep.Stopped[name]; why != "" {
							fmt.Fprintf(w, " and an unknown number after: %s", why)
						}
						fmt.Fprintln(w)
					}
					return nil
				},
			},
		},
	}
}

func printCheck(c *cli.Context, rep *store.CheckReport) {
	w := c.App.Writer
	switch {
	case rep.Missing:
		fmt.Fprintf(w, "%s: no store (logjail creates one at start)\n", rep.Path)
		return
	case rep.Sound:
		fmt.Fprintf(w, "%s: sound\n", rep.Path)
	default:
		fmt.Fprintf(w, "%s: DAMAGED\n", rep.Path)
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  problem: %s\n", p)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rep.Buckets)) {
		b := rep.Buckets[name]
		fmt.Fprintf(w, "  %-10s %d records, %d unreadable\n", name, b.Records, b.Unreadable)
		for _, e := range b.Examples {
			fmt.Fprintf(w, "    unreadable: %s\n", e)
		}
	}
}
