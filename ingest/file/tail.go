// Package file follows plain-text log files, like tail -F, for logjail.
//
// logjail runs as root and the logs it reads are partly written by
// attackers, so every input is bounded: overlong lines are skipped and
// counted, bytes are sanitised, special files (FIFOs, devices) are refused,
// and nothing written into a log can make the tailer block or grow memory
// without limit.
package file

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/ingest/keyerr"
)

const (
	defaultPoll       = time.Second
	minPoll           = 10 * time.Millisecond // a smaller interval would be a busy loop
	defaultMaxLine    = 64 << 10
	defaultRotateWait = 5 * time.Second
	defaultMaxFiles   = 256
	// unfollowedWarn is how often files left unfollowed are logged.
	unfollowedWarn = time.Minute

	// roundBudget is how much one file may read before the others get a
	// turn, so that one busy or huge file cannot starve the rest.
	roundBudget = 256 << 10
	// maxRounds bounds one catch-up pass so that events and ticks (rotation
	// checks) still get served while a large backlog is read.
	maxRounds = 64
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
	if !t.running.CompareAndSwap(false, true) {
		return errors.New("file: Run is already running")
	}
	defer t.running.Store(false)

	r := &runner{
		t: t, ctx: ctx, out: out, log: t.log,
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

	tick := time.NewTicker(t.cfg.Poll)
	defer tick.Stop()
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
		case <-tick.C:
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

// runner is the state of one Run, touched only by its goroutine.
type runner struct {
	t   *Tail
	ctx context.Context
	out chan<- ingest.Entry
	log *slog.Logger

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

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// scan resolves the paths and globs, opens new files and notices files that
// were rotated away.
func (r *runner) scan() {
	now := time.Now()
	clear(r.faults)
	seen := make(map[fileID]string)
	for _, p := range r.t.paths {
		if !hasMeta(p) {
			r.consider(p, true, seen, now)
			continue
		}
		matches, _ := filepath.Glob(p) // the pattern was checked by New
		if len(matches) == 0 {
			r.missing(p, now)
			continue
		}
		r.present(p)
		for _, m := range matches {
			r.consider(m, false, seen, now)
		}
	}
	if r.firstScan {
		for _, p := range seen {
			r.startPaths[p] = true
		}
	}
	var fresh []fileID
	for id, p := range seen {
		if tf := r.files[id]; tf != nil {
			if tf.path != p {
				r.log.Debug("file: followed file renamed", "from", tf.path, "to", p)
				tf.path = p
			}
			tf.gone = time.Time{}
			continue
		}
		fresh = append(fresh, id)
	}
	// New files are opened in name order, so that which ones a budget
	// leaves out does not change from one scan to the next.
	slices.SortFunc(fresh, func(a, b fileID) int { return cmp.Compare(seen[a], seen[b]) })
	var left []string
	why := ""
	for _, id := range fresh {
		p := seen[id]
		if len(r.files) >= r.t.cfg.MaxFiles {
			left, why = append(left, p), fmt.Sprintf("max_files (%d) reached", r.t.cfg.MaxFiles)
			continue
		}
		if !r.t.cfg.Budget.take() {
			left, why = append(left, p), fmt.Sprintf("the file sources' descriptor budget (%d) is used up", r.t.cfg.Budget.Limit())
			continue
		}
		tf, err := r.open(p, id)
		if err != nil || tf == nil {
			r.t.cfg.Budget.give()
			if err != nil {
				r.problem(p, "cannot open", err)
			}
			continue
		}
		tf.budget = r.t.cfg.Budget
		r.files[id] = tf
	}
	r.leftOut(left, why, now)
	for id, tf := range r.files {
		if _, ok := seen[id]; !ok && tf.gone.IsZero() {
			tf.gone = now
			r.log.Debug("file: rotated or removed; reading what is left", "path", tf.path)
		}
	}
	r.reorder()
	r.firstScan = false
}

// leftOut reports the files a scan left closed: each counted once as an
// error, all named in the health (see updateHealth), and logged at most
// once every unfollowedWarn.
func (r *runner) leftOut(paths []string, why string, now time.Time) {
	r.unfollowedSeen, r.unfollowedWhy = len(paths), why
	left := make(map[string]bool, len(paths))
	for _, p := range paths {
		if !r.unfollowed[p] {
			r.t.errs.Add(1)
		}
		left[p] = true
	}
	r.unfollowed = left
	if len(paths) == 0 {
		return
	}
	if now.Sub(r.unfollowedLog) >= unfollowedWarn {
		r.unfollowedLog = now
		r.log.Warn("file: matching files not followed", "count", len(paths), "because", why, "first", paths[0])
	}
}

// consider stats one candidate path and records the file it names.
func (r *runner) consider(p string, literal bool, seen map[fileID]string, now time.Time) {
	fi, err := os.Stat(p)
	if err != nil {
		delete(r.startPaths, p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if literal {
				r.missing(p, now)
			}
		default:
			r.problem(p, "cannot stat", err)
		}
		return
	}
	if literal {
		r.present(p)
	}
	if !fi.Mode().IsRegular() {
		// Glob matches that are directories and the like are simply not
		// logs; a named path that is not a file deserves a word.
		if literal {
			r.problem(p, "not a regular file; ignored", nil)
		}
		return
	}
	if _, dup := seen[idOf(fi)]; !dup { // hard links and symlinks: read once
		seen[idOf(fi)] = p
	}
}

// missing notes that a named path (or a glob) has no file. A rotation leaves
// the path missing for a moment, so after the first scan it is only
// reported when it stays missing for RotateWait; then once, until it is back.
func (r *runner) missing(p string, now time.Time) {
	since, ok := r.missingSince[p]
	if !ok {
		since = now
		r.missingSince[p] = now
	}
	if r.missWarned[p] || (!r.firstScan && now.Sub(since) < r.t.cfg.RotateWait) {
		return
	}
	r.missWarned[p] = true
	r.t.errs.Add(1)
	r.log.Warn("file: missing; waiting for it to appear", "path", p)
}

func (r *runner) present(p string) {
	delete(r.missingSince, p)
	delete(r.missWarned, p)
}

// problem logs and counts an error once per path until it changes.
func (r *runner) problem(p, msg string, err error) {
	text := msg
	if err != nil {
		text += ": " + err.Error()
	}
	r.faults[p] = text
	if r.problems[p] == text {
		return
	}
	r.problems[p] = text
	r.t.errs.Add(1)
	if err != nil {
		r.log.Warn("file: "+msg, "path", p, "err", err)
	} else {
		r.log.Warn("file: "+msg, "path", p)
	}
}

// open starts following the file at p. It returns nil, nil when p changed
// between stat and open; the next scan will see what is there now.
func (r *runner) open(p string, id fileID) (*tailFile, error) {
	f, fi, err := openFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if idOf(fi) != id {
		f.Close()
		return nil, nil
	}
	tf := &tailFile{id: id, path: p, f: f, suffixLen: -1}
	var start int64
	skipFirst := false
	if r.startPaths[p] {
		start, skipFirst = r.startOffset(tf, fi.Size())
	}
	if err := tf.seek(start); err != nil {
		f.Close()
		return nil, err
	}
	tf.skipping = skipFirst
	delete(r.startPaths, p)
	delete(r.problems, p)
	r.log.Debug("file: following", "path", p, "offset", start)
	return tf, nil
}

// startOffset decides where a file present at start is read from: its
// stored position if the file is provably the same one, its start if it was
// replaced, its end if nothing is stored. Starting at the end of a
// half-written line skips that line rather than emit its tail.
func (r *runner) startOffset(tf *tailFile, size int64) (int64, bool) {
	atEnd := func() (int64, bool) { return size, endsMidLine(tf.f, size) }
	if r.t.pos == nil {
		return atEnd()
	}
	v, err := r.t.pos.Position(tf.path)
	if err != nil {
		r.problem(tf.path, "cannot load stored position; starting at end", err)
		return atEnd()
	}
	if v == nil {
		return atEnd()
	}
	c, err := ParseCursor(v)
	if err != nil {
		r.problem(tf.path, "unreadable stored position; starting at end", err)
		return atEnd()
	}
	if sameFile(tf, c, size) {
		r.log.Info("file: resuming", "path", tf.path, "offset", c.Offset)
		return c.Offset, false
	}
	r.log.Info("file: replaced since last run; reading from start", "path", tf.path)
	return 0, false
}

// sameFile reports whether the stored cursor c describes tf. The device
// number is deliberately not compared: it can change across reboots (LVM,
// btrfs, overlay) while inode and content stay the same.
func sameFile(tf *tailFile, c Cursor, size int64) bool {
	if c.Ino != tf.id.ino || size < c.Offset {
		return false
	}
	head := make([]byte, c.HeadLen)
	if n, _ := tf.f.ReadAt(head, 0); n != c.HeadLen {
		return false
	}
	return headSum(head) == c.HeadSum
}

// reorder rebuilds order and byPath after the set of files changed.
func (r *runner) reorder() {
	r.order = r.order[:0]
	clear(r.byPath)
	r.draining = 0
	for _, tf := range r.files {
		r.order = append(r.order, tf)
		if tf.gone.IsZero() {
			r.byPath[tf.path] = tf
		} else {
			r.draining++
		}
	}
	slices.SortFunc(r.order, func(a, b *tailFile) int {
		if az, bz := a.gone.IsZero(), b.gone.IsZero(); az != bz {
			if az {
				return 1
			}
			return -1
		}
		if c := a.gone.Compare(b.gone); c != 0 {
			return c
		}
		return cmp.Compare(a.path, b.path)
	})
}

func (r *runner) wantAll() {
	for _, tf := range r.order {
		tf.want = true
	}
}

// readAll reads every file that wants reading, a budget at a time in turn,
// until all are at their end or maxRounds passed (then r.behind is set).
func (r *runner) readAll() error {
	for range maxRounds {
		more := false
		for _, tf := range r.order {
			if !tf.want {
				continue
			}
			m, err := r.readFile(tf)
			if err != nil {
				return err
			}
			tf.want = m
			more = more || m
		}
		if !more {
			r.behind = false
			return nil
		}
		if err := r.ctx.Err(); err != nil {
			return err
		}
	}
	r.behind = true
	return nil
}

// readFile reads one budget of tf and emits its complete lines. It reports
// whether data may be left. Only cancellation is returned as an error.
func (r *runner) readFile(tf *tailFile) (bool, error) {
	if tf.r == nil {
		tf.r = bufio.NewReaderSize(tf.f, readBufSize)
	}
	maxLine := r.t.cfg.MaxLine
	n := 0
	for n < roundBudget {
		chunk, err := tf.r.ReadSlice('\n')
		if len(chunk) > 0 {
			n += len(chunk)
			tf.consume(chunk)
		}
		switch {
		case err == nil:
			if err := r.line(tf, chunk); err != nil {
				return false, err
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if tf.hold(chunk, maxLine) {
				r.skip(tf)
			}
		case errors.Is(err, io.EOF):
			if tf.hold(chunk, maxLine) {
				r.skip(tf)
			}
			if n > 0 {
				tf.lastData = time.Now()
				tf.errMsg = ""
				return false, nil
			}
			// Nothing new: the cheap moment to notice a truncation.
			return r.checkTruncated(tf, false), nil
		default:
			r.readError(tf, err)
			return false, nil
		}
	}
	tf.lastData = time.Now()
	return true, nil
}

// line handles a chunk that ends in '\n'.
func (r *runner) line(tf *tailFile, chunk []byte) error {
	if tf.skipping {
		tf.skipping = false
		return nil
	}
	maxLine := r.t.cfg.MaxLine
	line := chunk
	if len(tf.partial) > 0 {
		if len(tf.partial)+len(chunk)-1 > maxLine {
			tf.dropPartial()
			r.skip(tf)
			return nil
		}
		tf.partial = append(tf.partial, chunk...)
		line = tf.partial
	}
	line = line[:len(line)-1]
	if len(line) > maxLine {
		tf.dropPartial()
		r.skip(tf)
		return nil
	}
	msg := sanitize(line)
	tf.dropPartial()
	return r.emit(tf, msg, tf.off)
}

func (r *runner) skip(tf *tailFile) {
	r.t.skipped.Add(1)
	r.log.Debug("file: line longer than MaxLine skipped", "path", tf.path, "max", r.t.cfg.MaxLine)
}

// emit sends one entry, waiting for the consumer (backpressure) or ctx.
func (r *runner) emit(tf *tailFile, msg string, off int64) error {
	e := ingest.Entry{
		ReadAt:  time.Now(),
		Message: msg,
		Pos:     ingest.Position{Key: tf.path, Value: tf.posValue(off)},
	}
	select {
	case r.out <- e:
		r.t.read.Add(1)
		r.t.health.Entry(e.ReadAt)
		return nil
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}

// updateHealth sets the source's state from what the last cycle met: an
// error while a path cannot be opened or a file cannot be read; reading
// while a file is open (a rotated-away one still read counts); waiting
// while no file exists yet.
func (r *runner) updateHealth() {
	var why []string
	for p, text := range r.faults {
		why = append(why, p+": "+text)
	}
	for _, tf := range r.order {
		if tf.errMsg != "" {
			why = append(why, tf.path+": read error: "+tf.errMsg)
		}
	}
	slices.Sort(why)
	if r.unfollowedSeen > 0 {
		// One summary, not one path each: there may be thousands.
		why = append(why, fmt.Sprintf("%d matching files not followed: %s", r.unfollowedSeen, r.unfollowedWhy))
	}
	if len(why) > 0 {
		r.t.health.Set(ingest.StateError, strings.Join(why, "; "))
		return
	}
	if len(r.files) > 0 {
		r.t.health.Set(ingest.StateReading, "")
		return
	}
	var missing []string
	for p := range r.missingSince {
		missing = append(missing, p)
	}
	slices.Sort(missing)
	if len(missing) == 0 {
		r.t.health.Set(ingest.StateWaiting, "no file to follow yet")
		return
	}
	r.t.health.Set(ingest.StateWaiting, "no file yet: "+strings.Join(missing, ", "))
}

func (r *runner) readError(tf *tailFile, err error) {
	if tf.errMsg == err.Error() {
		return
	}
	tf.errMsg = err.Error()
	r.t.errs.Add(1)
	r.log.Warn("file: read error", "path", tf.path, "err", err)
}

// checkTruncated detects copytruncate: the file is now shorter than what
// was read, or (deep, on poll ticks) its first bytes changed because it was
// truncated and refilled past the offset in between two looks. The file is
// then read again from its start; a held partial line is dropped because
// its end is lost.
func (r *runner) checkTruncated(tf *tailFile, deep bool) bool {
	fi, err := tf.f.Stat()
	if err != nil {
		r.readError(tf, err)
		return false
	}
	trunc := fi.Size() < tf.off+tf.pending()
	if !trunc && deep && len(tf.head) > 0 {
		buf := r.scratch[:len(tf.head)]
		n, _ := tf.f.ReadAt(buf, 0)
		trunc = n < len(buf) || string(buf) != string(tf.head)
	}
	if !trunc {
		return false
	}
	r.log.Info("file: truncated; reading from start", "path", tf.path)
	if len(tf.partial) > 0 && !tf.skipping {
		r.skip(tf)
	}
	tf.dropPartial()
	tf.skipping = false
	if err := tf.seek(0); err != nil {
		r.readError(tf, err)
		return false
	}
	return true
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

// expire closes rotated-away files that gave no data for RotateWait, after
// emitting their unterminated last line: its writer has moved on, so that
// line will never be completed.
func (r *runner) expire() error {
	now := time.Now()
	changed := false
	for _, tf := range r.order {
		if tf.gone.IsZero() || tf.want {
			continue
		}
		last := tf.gone
		if tf.lastData.After(last) {
			last = tf.lastData
		}
		if now.Sub(last) < r.t.cfg.RotateWait {
			continue
		}
		if len(tf.partial) > 0 && !tf.skipping {
			msg := sanitize(tf.partial)
			tf.dropPartial()
			if err := r.emit(tf, msg, tf.off); err != nil {
				return err
			}
		}
		r.log.Debug("file: done with rotated file", "path", tf.path)
		tf.close()
		delete(r.files, tf.id)
		changed = true
	}
	if changed {
		r.reorder()
	}
	return nil
}

// startWatcher sets up inotify on the directories holding the paths
// (files get renamed and created, so the files themselves are not enough).
// Without it, polling does all the work.
func (r *runner) startWatcher() {
	if r.t.cfg.DisableNotify {
		return
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.log.Warn("file: inotify unavailable; polling", "every", r.t.cfg.Poll, "err", err)
		return
	}
	r.w = w
	for _, p := range r.t.paths {
		d := filepath.Dir(p)
		if hasMeta(d) {
			r.log.Debug("file: wildcard directory; polling", "path", p, "every", r.t.cfg.Poll)
			continue
		}
		if !slices.Contains(r.wantDirs, d) {
			r.wantDirs = append(r.wantDirs, d)
		}
	}
	r.addWatches()
}

// addWatches (re)adds directory watches; a directory that does not exist
// yet is retried on every poll.
func (r *runner) addWatches() {
	if r.w == nil {
		return
	}
	for _, d := range r.wantDirs {
		if r.watched[d] {
			continue
		}
		if err := r.w.Add(d); err != nil {
			if !r.watchWarned[d] {
				r.watchWarned[d] = true
				lvl := slog.LevelWarn
				if errors.Is(err, fs.ErrNotExist) {
					lvl = slog.LevelDebug
				}
				r.log.Log(r.ctx, lvl, "file: cannot watch directory; polling it", "dir", d, "every", r.t.cfg.Poll, "err", err)
			}
			continue
		}
		r.watched[d] = true
		delete(r.watchWarned, d)
	}
}

// note records what an inotify event asks for; act does it.
func (r *runner) note(ev fsnotify.Event) {
	name := ev.Name
	if r.watched[name] && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		// The directory itself went away, and its watch with it.
		_ = r.w.Remove(name)
		delete(r.watched, name)
		r.needScan = true
		return
	}
	if tf := r.byPath[name]; tf != nil {
		if ev.Has(fsnotify.Write) {
			tf.want = true
		}
		if ev.Has(fsnotify.Create | fsnotify.Remove | fsnotify.Rename) {
			r.needScan = true
		}
		return
	}
	if r.matches(name) {
		if ev.Has(fsnotify.Create | fsnotify.Write | fsnotify.Remove | fsnotify.Rename) {
			r.needScan = true
		}
		return
	}
	if ev.Has(fsnotify.Write) && r.draining > 0 {
		// Likely a rotated file, still written to under its new name.
		for _, tf := range r.order {
			if !tf.gone.IsZero() {
				tf.want = true
			}
		}
	}
}

// drainEvents takes whatever else is already queued, so that a burst of
// writes costs one read pass.
func (r *runner) drainEvents(events *<-chan fsnotify.Event) {
	for range 256 {
		select {
		case ev, ok := <-*events:
			if !ok {
				*events = nil
				return
			}
			r.note(ev)
		default:
			return
		}
	}
}

func (r *runner) matches(name string) bool {
	for _, p := range r.t.paths {
		if p == name {
			return true
		}
		if ok, _ := filepath.Match(p, name); ok {
			return true
		}
	}
	return false
}

func (r *runner) watchError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		// Events were lost; look at everything.
		r.log.Debug("file: inotify queue overflow; rescanning")
	} else {
		r.log.Warn("file: inotify error", "err", err)
	}
	r.needScan = true
}

// act performs what the noted events asked for. A Write event may be a
// truncation followed by new data, which the size alone does not reveal, so
// current files are checked deeply before reading: two cheap syscalls per
// burst of events.
func (r *runner) act() error {
	if r.needScan {
		r.needScan = false
		r.scan()
		r.wantAll()
	}
	for _, tf := range r.order {
		if tf.want && tf.gone.IsZero() {
			r.checkTruncated(tf, true)
		}
	}
	return r.readAll()
}

func (r *runner) closeAll() {
	if r.w != nil {
		r.w.Close()
	}
	for _, tf := range r.files {
		tf.close()
	}
}
