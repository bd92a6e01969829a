// Package file follows plain-text log files, like tail -F, for logjail.
//
// logjail runs as root and the logs it reads are partly written by
// attackers, so every input is bounded: overlong lines are skipped and
// counted, bytes are sanitised, special files (FIFOs, devices) are refused,
// and nothing written into a log can make the tailer block or grow memory
// without limit.
package file

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/ingest/keyerr"
	"github.com/logjail/logjail/ingest/tick"
)

const (
	defaultPoll       = time.Second
	minPoll           = 10 * time.Millisecond // a smaller interval would be a busy loop
	defaultMaxLine    = 64 << 10
	defaultRotateWait = 5 * time.Second
	defaultMaxFiles   = 256
)

// Config configures a Tail.
type Config struct {
	// Paths are file names or glob patterns (filepath.Match syntax).
	// Relative names are made absolute at New.
	Paths []string
	// Poll is how often files are checked without waiting for an inotify
	// event: the safety net for missed events (overflow, NFS, symlinked
	// files) and the only mechanism when inotify is unavailable. Default 1s.
	Poll time.Duration
	// MaxLine is the longest line delivered, in bytes; longer lines are
	// skipped whole and counted in Stats.Skipped. Default 64 KiB.
	MaxLine int
	// RotateWait is how long a file that was renamed or removed is still
	// read after its last new data, for writers (syslog daemons) that keep
	// writing to the old file until they are told to reopen. Default 5s.
	RotateWait time.Duration
	// DisableNotify turns inotify off and relies on polling alone: for file
	// systems where inotify does not report changes, and for tests.
	DisableNotify bool
	// MaxFiles is the most files this source keeps open at once (rotated
	// files still being read included). Matching files beyond it are not
	// followed: they are counted in Stats.Errors, named in the source's
	// error state and logged (once a minute), and followed once others
	// close. Default 256.
	MaxFiles int
	// Budget, when set, is shared with the other file sources: a file is
	// opened only when a descriptor is left in it, and reported like one
	// beyond MaxFiles otherwise.
	Budget *Budget
}

// Tail follows a set of files and globs. It implements ingest.Source.
type Tail struct {
	cfg     Config
	paths   []string // absolute, deduplicated
	pos     ingest.Positions
	log     *slog.Logger
	running atomic.Bool

	read, skipped, errs atomic.Uint64
	health              ingest.Health

	// afterCycle, when set by tests, is called on the Run goroutine after
	// each scan or read cycle; it lets tests wait instead of sleeping.
	afterCycle func()
}

var _ ingest.Source = (*Tail)(nil)

// New checks cfg and returns a Tail. pos may be nil (no stored positions);
// log may be nil (discard). Every bad setting is reported (errors.Join),
// not only the first.
func New(cfg Config, pos ingest.Positions, log *slog.Logger) (*Tail, error) {
	var errs []error
	if len(cfg.Paths) == 0 {
		errs = append(errs, keyerr.Wrap("paths", errors.New("file: no paths to follow")))
	}
	errs = append(errs,
		keyerr.Default("file", "poll", &cfg.Poll, defaultPoll),
		keyerr.Default("file", "max_line", &cfg.MaxLine, defaultMaxLine),
		keyerr.Default("file", "max_files", &cfg.MaxFiles, defaultMaxFiles))
	if cfg.Poll > 0 && cfg.Poll < minPoll {
		cfg.Poll = minPoll
	}
	switch {
	case cfg.RotateWait < 0:
		// Not a key of the configuration file: set only by code.
		errs = append(errs, fmt.Errorf("file: negative RotateWait %v", cfg.RotateWait))
	case cfg.RotateWait == 0:
		cfg.RotateWait = defaultRotateWait
	}
	t := &Tail{cfg: cfg, pos: pos, log: log}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	for _, p := range cfg.Paths {
		abs, err := absPattern(p)
		if err != nil {
			errs = append(errs, keyerr.Wrap("paths", err))
			continue
		}
		if !slices.Contains(t.paths, abs) {
			t.paths = append(t.paths, abs)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t.cfg.Paths = slices.Clone(t.paths)
	return t, nil
}

// absPattern returns path (a glob pattern) made absolute.
func absPattern(p string) (string, error) {
	if p == "" {
		return "", errors.New("file: empty path")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("file: %s: %w", p, err)
	}
	if _, err := filepath.Match(abs, ""); err != nil {
		return "", fmt.Errorf("file: bad pattern %q: %w", p, err)
	}
	return abs, nil
}

// Describe lists what is followed, for status output.
func (t *Tail) Describe() string { return "file " + strings.Join(t.paths, ", ") }

// Stats returns the counters; safe to call from any goroutine.
func (t *Tail) Stats() ingest.Stats {
	st := ingest.Stats{Read: t.read.Load(), Skipped: t.skipped.Load(), Errors: t.errs.Load()}
	t.health.Fill(&st)
	return st
}

// Run follows the files until ctx is done, then returns nil. Only one Run
// may be active at a time. Files that exist when Run starts are read from
// their stored position, or from their end when none is stored; files that
// appear later are read from their start.
func (t *Tail) Run(ctx context.Context, out chan<- ingest.Entry) error {
	return t.run(ctx, &runner{out: out})
}

// RunBatches is Run, with the entries in batches (see ingest.BatchSource).
func (t *Tail) RunBatches(ctx context.Context, out chan<- []ingest.Entry) error {
	return t.run(ctx, &runner{batches: out})
}

// run follows the files with r, whose output is set.
func (t *Tail) run(ctx context.Context, r *runner) error {
	if !t.running.CompareAndSwap(false, true) {
		return errors.New("file: Run is already running")
	}
	defer t.running.Store(false)

	*r = runner{
		t: t, ctx: ctx, out: r.out, batches: r.batches, batch: ingest.NewBatch(), log: t.log,
		files:        make(map[fileID]*tailFile),
		byPath:       make(map[string]*tailFile),
		startPaths:   make(map[string]bool),
		missingSince: make(map[string]time.Time),
		missWarned:   make(map[string]bool),
		problems:     make(map[string]string),
		faults:       make(map[string]string),
		watched:      make(map[string]bool),
		watchWarned:  make(map[string]bool),
		firstScan:    true,
	}
	defer r.closeAll()
	r.startWatcher()

	// On the shared phase: the polls of every file source wake an idle
	// daemon once.
	poll := tick.New(t.cfg.Poll)
	defer poll.Stop()
	var events <-chan fsnotify.Event
	var werrs <-chan error
	if r.w != nil {
		events, werrs = r.w.Events, r.w.Errors
	}
	ready := make(chan struct{})
	close(ready)

	r.scan()
	r.wantAll()
	err := r.readAll()
	for err == nil {
		// What the last cycle read goes out before waiting for more.
		if err = r.flush(); err != nil {
			break
		}
		r.updateHealth()
		if t.afterCycle != nil {
			t.afterCycle()
		}
		// While behind, keep reading, but let select pick ticks and events
		// too so that rotation is still noticed.
		var cont <-chan struct{}
		if r.behind {
			cont = ready
		}
		select {
		case <-ctx.Done():
			return nil
		case <-cont:
			err = r.readAll()
		case <-poll.C:
			err = r.poll()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			r.note(ev)
			r.drainEvents(&events)
			err = r.act()
		case werr, ok := <-werrs:
			if !ok {
				werrs = nil
				continue
			}
			r.watchError(werr)
			err = r.act()
		}
	}
	// Only cancellation ends the loop: read errors are counted and retried.
	return nil
}

var _ ingest.BatchSource = (*Tail)(nil)

// runner is the state of one Run, touched only by its goroutine.
type runner struct {
	t   *Tail
	ctx context.Context
	// Entries are collected in batch, and sent as they are read either
	// one by one on out (Run) or as batches (RunBatches).
	out     chan<- ingest.Entry
	batches chan<- []ingest.Entry
	batch   []ingest.Entry
	// readAt is when the data being read was read: taken once a read, not
	// once a line.
	readAt time.Time
	// posArena is what the entries' positions are cut from; pend is the
	// entry whose position is still to be made (see settle).
	posArena []byte
	pend     pendingPos
	log      *slog.Logger

	files  map[fileID]*tailFile
	order  []*tailFile          // rotated-away files first, so old lines go out before new ones
	byPath map[string]*tailFile // current (not rotated-away) files, for inotify events
	// startPaths are paths present at the first scan but not opened yet:
	// they get the start-of-run treatment (stored position, else end).
	startPaths map[string]bool
	firstScan  bool
	draining   int
	behind     bool // a read pass stopped with data left
	needScan   bool

	missingSince map[string]time.Time
	missWarned   map[string]bool
	problems     map[string]string // path → last problem logged
	// faults are the problems the last scan met, path → what: the
	// source's error state while any is left.
	faults map[string]string

	// unfollowed are matching files left closed by MaxFiles or the
	// descriptor budget, each counted once until it is followed; why says
	// which budget ran out at the last scan.
	unfollowed     map[string]bool
	unfollowedWhy  string
	unfollowedSeen int       // left out at the last scan
	unfollowedLog  time.Time // last warning

	w           *fsnotify.Watcher
	wantDirs    []string
	watched     map[string]bool
	watchWarned map[string]bool

	scratch [headSize]byte
}

// poll is the periodic safety net: rescan, look for truncation, read
// everything, retire rotated files that went quiet.
func (r *runner) poll() error {
	r.addWatches()
	r.scan()
	for _, tf := range r.order {
		r.checkTruncated(tf, true)
	}
	r.wantAll()
	if err := r.readAll(); err != nil {
		return err
	}
	return r.expire()
}

func (r *runner) closeAll() {
	if r.w != nil {
		r.w.Close()
	}
	for _, tf := range r.files {
		tf.close()
	}
}
