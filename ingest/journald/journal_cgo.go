//go:build cgo && linux

package journald

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/sdjournal"

	"github.com/logjail/logjail/ingest"
)

// errMoved asks for the journal to be opened again at once: a namespace's
// journal directory changed.
var errMoved = errors.New("journal directory changed")

// Run reads the journal until ctx is done, then returns nil. Only one Run
// may be active at a time.
//
// Where reading starts: after the stored position (the entry at the stored
// cursor was delivered before and is skipped); at the oldest entry after it
// when that entry is gone (vacuumed, rotated away), with a warning; at the
// end of the journal when no position is stored, so that only new entries
// are read, except for a journal that did not exist yet when Run started,
// which is new as a whole and read from its start.
//
// A journal that cannot be opened (missing files, a namespace not started
// yet) or read is retried every few seconds, resuming after the last entry
// delivered; Run itself only ends with ctx.
//
// Health (Stats.State): reading while the journal is open and has journal
// files; unavailable while it has none, or its directory, files or
// namespace do not exist (errors wrapping ErrNoJournal); error while it
// cannot be opened or read for another reason. A journal open without
// files is opened again every retry interval, so that journals appearing
// in directories that did not exist are found too.
func (j *Journal) Run(ctx context.Context, out chan<- ingest.Entry) error {
	if !j.running.CompareAndSwap(false, true) {
		return errors.New("journald: Run is already running")
	}
	defer j.running.Store(false)

	r := &reader{j: j, ctx: ctx, out: out, log: j.log.With("journal", j.desc)}
	for {
		err := r.session()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errMoved) {
			continue
		}
		if errors.Is(err, ErrNoJournal) {
			j.health.Set(ingest.StateUnavailable, err.Error())
		} else {
			j.health.Set(ingest.StateError, err.Error())
		}
		r.problem(err)
		t := time.NewTimer(j.retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// reader is the state of one Run, touched only by its goroutine.
type reader struct {
	j   *Journal
	ctx context.Context
	out chan<- ingest.Entry
	log *slog.Logger

	sd  *sdjournal.Journal
	dir string // the namespace directory opened, when reading a namespace
	// last is the cursor of the last entry handled (delivered or skipped)
	// in this Run: where a reopened journal resumes.
	last string
	// fromHead is set when every entry the journal may hold is new to
	// this Run: it could not be opened when Run started (it is new when
	// it appears), or it was empty at its end.
	fromHead, opened bool
	// pending is set when the current entry has not been handled yet:
	// the first entry after a stored cursor that was not found.
	pending bool
	// resumeAt is the cursor the journal was positioned at while nothing
	// at or after it could be read yet (a file still being written or
	// flushed): the first entry that appears is skipped if it is that
	// entry or a copy of it in another file, as position does.
	resumeAt string
	// empty is set while the open journal has no journal files (the
	// source is unavailable); openedAt is when it was opened.
	empty     bool
	openedAt  time.Time
	lastWhy   string // last problem logged, to log each problem once
	lastCheck time.Time
}

// session opens the journal, positions it and follows it until ctx is
// done or an error asks for reopening.
func (r *reader) session() error {
	if err := r.open(); err != nil {
		if !r.opened {
			r.fromHead = true
		}
		return err
	}
	r.opened = true
	defer func() {
		r.sd.Close()
		r.sd = nil
	}()
	if err := r.position(); err != nil {
		return err
	}
	r.openedAt = time.Now()
	r.checkFiles()
	if r.lastWhy != "" && !r.empty {
		r.log.Info("journald: reading again")
		r.lastWhy = ""
	}
	if r.j.onReady != nil {
		r.j.onReady()
	}
	return r.follow()
}

// checkFiles sets the source's state from whether the open journal has
// journal files.
func (r *reader) checkFiles() {
	usage, err := r.sd.GetUsage()
	r.empty = err == nil && usage == 0
	if r.empty {
		why := r.j.noFiles(r.dir)
		r.j.health.Set(ingest.StateUnavailable, why.Error())
		r.problem(why)
		return
	}
	r.j.health.Set(ingest.StateReading, "")
}

func (r *reader) open() error {
	if err := r.j.absent(); err != nil {
		return err
	}
	cfg := r.j.cfg
	var (
		sd  *sdjournal.Journal
		err error
	)
	switch {
	case len(cfg.Files) > 0:
		sd, err = sdjournal.NewJournalFromFiles(cfg.Files...)
	case cfg.Directory != "":
		sd, err = sdjournal.NewJournalFromDir(cfg.Directory)
	case cfg.Namespace != "":
		r.dir, err = namespaceDir(cfg.Namespace)
		if err == nil {
			sd, err = sdjournal.NewJournalFromDir(r.dir)
		}
		r.lastCheck = time.Now()
	default:
		sd, err = sdjournal.NewJournal()
	}
	if err != nil {
		return err
	}
	for _, t := range cfg.Match {
		if t == "+" {
			err = sd.AddDisjunction()
		} else {
			err = sd.AddMatch(t)
		}
		if err != nil {
			sd.Close()
			return fmt.Errorf("match %q: %w", t, err)
		}
	}
	r.sd = sd
	return nil
}

// position moves the journal to just before the first entry to deliver.
func (r *reader) position() error {
	r.resumeAt = ""
	cursor := r.last
	if cursor == "" && r.j.pos != nil {
		v, err := r.j.pos.Position(r.j.key)
		if err != nil {
			r.j.errs.Add(1)
			r.log.Warn("journald: cannot load stored position; reading new entries only", "err", err)
			return r.seekTail()
		}
		cursor = string(v)
	}
	if cursor == "" {
		if r.fromHead || r.j.startAtHead {
			r.log.Debug("journald: reading from the oldest entry")
			return r.sd.SeekHead()
		}
		return r.seekTail()
	}
	if err := r.sd.SeekCursor(cursor); err != nil {
		r.j.errs.Add(1)
		r.log.Warn("journald: stored cursor unusable; reading from the oldest entry", "cursor", cursor, "err", err)
		return r.sd.SeekHead()
	}
	n, err := r.sd.Next()
	if err != nil || n == 0 {
		// Nothing at or after the cursor yet: the next entry that appears
		// is the first to deliver, unless it is the cursor's own.
		r.resumeAt = cursor
		return err
	}
	if r.atEntry(cursor) {
		return nil // at the entry delivered last (or its copy); the next Next passes it
	}
	r.log.Warn("journald: stored cursor not found (journal vacuumed or rotated away?); "+
		"resuming at the oldest entry after it", "cursor", cursor)
	r.pending = true
	return nil
}

// seekTail positions after the last entry, so that only entries written
// from now on are read.
func (r *reader) seekTail() error {
	if err := r.sd.SeekTail(); err != nil {
		return err
	}
	// After seek_tail, sd_journal_next would return the last entry again;
	// stepping onto it makes the next Next return the first new one.
	n, err := r.sd.Previous()
	if err != nil {
		return err
	}
	r.log.Debug("journald: no stored position; reading new entries only")
	// Remember where that was, so that reopening the journal later in
	// this Run resumes there instead of at a later end.
	if n == 0 {
		r.fromHead = true // empty: whatever appears is new
		return nil
	}
	if cur, err := r.sd.GetCursor(); err == nil {
		r.last = cur
	}
	return nil
}

// follow delivers entries and waits at the end for more.
func (r *reader) follow() error {
	for {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		if r.pending {
			r.pending = false
		} else {
			n, err := r.sd.Next()
			if err != nil {
				return fmt.Errorf("reading: %w", err)
			}
			if n == 0 {
				if err := r.wait(); err != nil {
					return err
				}
				continue
			}
			if r.alreadyHandled() {
				continue
			}
		}
		if err := r.handle(); err != nil {
			return err
		}
	}
}

// alreadyHandled reports whether the current entry is the one the journal
// was positioned at while nothing could be read (resumeAt), or a copy of
// it; it is checked for the first entry after that only.
func (r *reader) alreadyHandled() bool {
	c := r.resumeAt
	if c == "" {
		return false
	}
	r.resumeAt = ""
	return r.atEntry(c)
}

// atEntry reports whether the current entry is cursor's, or a copy of it in
// another file (a flushed or exported journal: sameEntry); a copy's cursor
// becomes the last one handled.
func (r *reader) atEntry(cursor string) bool {
	if r.sd.TestCursor(cursor) == nil {
		r.log.Debug("journald: resuming", "cursor", cursor)
		return true
	}
	if cur, err := r.sd.GetCursor(); err == nil && sameEntry(cursor, cur) {
		r.log.Debug("journald: resuming at a copy of the last entry", "cursor", cursor, "copy", cur)
		r.last = cur
		return true
	}
	return false
}

// wait blocks until the journal changes or waitTimeout passes.
func (r *reader) wait() error {
	if ev := r.sd.Wait(waitTimeout); ev < 0 {
		return fmt.Errorf("waiting for journal changes failed (%d)", ev)
	}
	if r.empty {
		usage, err := r.sd.GetUsage()
		if err == nil && usage > 0 {
			// Opened again, and positioned anew: the position taken in the
			// empty journal (its tail) would skip what the new files hold.
			r.log.Debug("journald: journal files appeared; reopening to read them from their start")
			return errMoved
		}
		if time.Since(r.openedAt) >= r.j.retry {
			return errMoved // opened again: journals in new directories are seen then
		}
	}
	if r.j.cfg.Namespace != "" && time.Since(r.lastCheck) >= r.j.nsRecheck {
		r.lastCheck = time.Now()
		if d, err := namespaceDir(r.j.cfg.Namespace); err == nil && d != r.dir {
			r.log.Info("journald: namespace journal moved; reopening", "from", r.dir, "to", d)
			return errMoved
		}
	}
	return nil
}

// handle delivers the current entry, waiting for the consumer. Only
// cancellation is returned as an error; a bad entry is counted and passed.
func (r *reader) handle() error {
	je, err := r.sd.GetEntry()
	if err != nil {
		r.j.errs.Add(1)
		r.log.Warn("journald: unreadable entry skipped", "after", r.last, "err", err)
		return nil
	}
	r.last = je.Cursor
	e, ok := makeEntry(je.Fields, je.RealtimeTimestamp, je.Cursor, r.j.key, time.Now())
	if !ok {
		r.j.skipped.Add(1)
		r.log.Debug("journald: message longer than MaxMessage skipped", "cursor", je.Cursor, "max", MaxMessage)
		return nil
	}
	// Counted before it is sent, so that a consumer holding the entry
	// sees it in Stats.
	r.j.read.Add(1)
	r.j.health.Entry(e.ReadAt)
	select {
	case r.out <- e:
		return nil
	case <-r.ctx.Done():
		r.j.read.Add(^uint64(0))
		return r.ctx.Err()
	}
}

// problem logs and counts an error once until it changes.
func (r *reader) problem(err error) {
	if err == nil || err.Error() == r.lastWhy {
		return
	}
	r.lastWhy = err.Error()
	r.j.errs.Add(1)
	r.log.Warn("journald: cannot read the journal; retrying", "every", r.j.retry, "err", err)
}

// probe opens the journal as Run would and reports whether it has journal
// files.
func (j *Journal) probe() error {
	r := &reader{j: j, ctx: context.Background(), log: j.log}
	if err := r.open(); err != nil {
		return err
	}
	defer r.sd.Close()
	usage, err := r.sd.GetUsage()
	if err != nil {
		return err
	}
	if usage == 0 {
		return j.noFiles(r.dir)
	}
	return nil
}
