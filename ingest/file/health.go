package file

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/logjail/logjail/ingest"
)

// unfollowedWarn is how often files left unfollowed are logged.
const unfollowedWarn = time.Minute

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

func (r *runner) readError(tf *tailFile, err error) {
	if tf.errMsg == err.Error() {
		return
	}
	tf.errMsg = err.Error()
	r.t.errs.Add(1)
	r.log.Warn("file: read error", "path", tf.path, "err", err)
}
