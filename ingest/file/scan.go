package file

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

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
	r.openFresh(fresh, seen, now)
	for id, tf := range r.files {
		if _, ok := seen[id]; !ok && tf.gone.IsZero() {
			tf.gone = now
			r.log.Debug("file: rotated or removed; reading what is left", "path", tf.path)
		}
	}
	r.reorder()
	r.firstScan = false
}

// openFresh opens the files a scan found that are not followed yet, as
// far as MaxFiles and the descriptor budget allow, and reports the rest.
func (r *runner) openFresh(fresh []fileID, seen map[fileID]string, now time.Time) {
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
