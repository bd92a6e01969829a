// Package simulate replays logs through a configuration, as logjail
// simulate does: each pipeline's filter, windows, gate, ban times and
// recidive, through the same matcher and tracker the daemon builds
// (pipelines.BuildWithoutSources), without a firewall, the state store,
// the control socket or the network. It reports which addresses would
// have been banned, when, for how long and by which lines.
//
// # The clock
//
// The simulation's clock is the log's time. Every LOG is matched first,
// line by line as the file source frames it; the failures found, of every
// LOG and pipeline, are then counted in the order of their times (lines
// of the same time in the order of their LOG, LOGs in the order given),
// each at its own time: when a failure is counted, the clock reads that
// failure's time. Before it is counted, the bans that ended by then are
// lifted and the windows trimmed (the daemon's tick), and every hour of
// log time the ban history is purged of what is older than dbpurgeage (the
// daemon's hourly purge). So:
//
//   - a window is maxretry failures within findtime of each other by their
//     log times;
//   - a ban starts at the time of the failure that decided it and lasts
//     bantime, incremented by the address's earlier bans in the simulation
//     (bantime_increment); a ban that ended before the address failed
//     again lets the next ban come, incremented, as it would live;
//   - the daemon's rule that a failure already older than findtime when it
//     is read never bans does not fire: live, a line is read as it is
//     written, and here every failure is counted at its own time.
//
// A line without a date takes the time of the last failure before it in
// its LOG for that pipeline (the LOG's modification time before any);
// dates without a year are placed by the LOG's modification time, as
// logjail test does (Options.Now replaces that time in both). A ban counts as a failure, at the ban's time, in the
// pipelines whose bans source follows its pipeline (recidive).
//
// # Which LOG goes where
//
// Every LOG goes to every simulated pipeline that reads logs (a file,
// journald, syslog or nats source), each through its own matcher: one
// log can show what sshd and a recidive filter on logjail's own log would
// do. A pipeline whose only sources are bans sources reads no LOG; it
// counts the bans of the pipelines it follows. The pipelines simulated
// are the enabled ones, or those named (Options.Pipelines) and the
// enabled pipelines their bans sources follow.
//
// # What is left out
//
// Nothing is enforced, stored or sent. The gate's NATS-server rule is not
// asked (finding the servers' addresses would resolve names); ignoreself
// uses this host's addresses now, and an ignorecommand runs, as it would
// live, once per ban due. The ban history bantime_increment counts lives
// in a throwaway store in a temporary directory, removed at the end.
package simulate

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state/store"
)

// Options say what to simulate.
type Options struct {
	// Logs are the log files to replay.
	Logs []string
	// Pipelines restricts the simulation to these enabled pipelines (and
	// those their bans sources follow); empty: every enabled pipeline.
	Pipelines []string
	// Now, when set, replaces each LOG's modification time as the
	// reference of dates without a year (and the time of a line without a
	// date before any failure): for a log copied long after it was
	// written.
	Now time.Time
	// Log hears what building the pipelines logs; nil discards it.
	Log *slog.Logger
}

// Run replays opts.Logs through the pipelines of cfg.
func Run(cfg *pipelines.Config, opts Options) (*Report, error) {
	if len(opts.Logs) == 0 {
		return nil, errors.New("no log to replay")
	}
	specs, err := selectPipelines(cfg, opts.Pipelines)
	if err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &sim{byName: map[string]*pipe{}, now: opts.Now}
	for _, spec := range specs {
		st, err := pipelines.BuildWithoutSources(spec, pipelines.Deps{Log: log})
		if err != nil {
			return nil, err
		}
		s.add(spec, st)
	}
	s.link()
	dir, err := os.MkdirTemp("", "logjail-simulate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	s.history, err = store.OpenScratch(dir)
	if err != nil {
		return nil, fmt.Errorf("ban history: %w", err)
	}
	defer s.history.Close()
	for _, p := range s.pipes {
		p.st.Tracker.SetHistory(s.history)
	}
	for _, path := range opts.Logs {
		if err := s.read(path); err != nil {
			return nil, err
		}
	}
	if err := s.decide(); err != nil {
		return nil, err
	}
	return s.report(), nil
}

// selectPipelines returns the enabled pipelines to simulate: those named
// and the enabled pipelines their bans sources follow, or every enabled
// one; in the configuration's order.
func selectPipelines(cfg *pipelines.Config, names []string) ([]*pipelines.Pipeline, error) {
	enabled := cfg.Enabled()
	if len(names) == 0 {
		if len(enabled) == 0 {
			return nil, errors.New("no pipeline is enabled in the configuration")
		}
		return enabled, nil
	}
	byName := map[string]*pipelines.Pipeline{}
	for _, p := range enabled {
		byName[p.Name] = p
	}
	want := map[string]bool{}
	var add func(name string)
	add = func(name string) {
		p, ok := byName[name]
		if !ok || want[name] {
			return
		}
		want[name] = true
		for _, f := range followed(p) {
			add(f)
		}
	}
	for _, n := range names {
		if _, ok := byName[n]; !ok {
			return nil, fmt.Errorf("--pipeline %s: no enabled pipeline of that name in the configuration", n)
		}
		add(n)
	}
	return slices.DeleteFunc(slices.Clone(enabled), func(p *pipelines.Pipeline) bool { return !want[p.Name] }), nil
}

// followed lists the pipelines p's bans sources follow.
func followed(p *pipelines.Pipeline) []string {
	var out []string
	for _, in := range p.Ingest {
		if in.Bans != nil {
			out = append(out, in.Bans.Pipelines...)
		}
	}
	return out
}

// readsLogs reports whether p has a source that reads log lines (any but
// a bans source).
func readsLogs(p *pipelines.Pipeline) bool {
	return slices.ContainsFunc(p.Ingest, func(in pipelines.IngestSpec) bool { return in.Bans == nil })
}

// maxLine is the max_line of p's first file source (0 for the default):
// the framing its LOG lines get.
func maxLine(p *pipelines.Pipeline) int {
	for _, in := range p.Ingest {
		if in.File != nil {
			return in.File.MaxLine
		}
	}
	return 0
}
