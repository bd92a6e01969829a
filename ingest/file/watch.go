package file

import (
	"errors"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"

	"github.com/fsnotify/fsnotify"
)

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
