package daemon

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
)

// The found line: every failure a pipeline recognises is logged at info
// level, as fail2ban logs its "[jail] Found ADDR - TIME" line, unless the
// pipeline says log_failures: false. A flood logs one per line read, so
// it is made as the ban's line is (see logBan): the record goes straight
// to the handler, on the runner's log queue (see logQueue), its time text
// formatted once per second.

// foundLog is a runner's state for its found lines.
type foundLog struct {
	// sec and text are the last failure time formatted, and its second.
	sec  int64
	text string
}

// timeText is t in RFC 3339, UTC, to the second (as the ban's until).
func (l *foundLog) timeText(t time.Time) string {
	if s := t.Unix(); s != l.sec || l.text == "" {
		l.sec, l.text = s, t.UTC().Format(time.RFC3339)
	}
	return l.text
}

// logFound logs failure f, recognised in entry e (nil when it came from
// no source of this pipeline), at now: "found", with the address, the
// source and the failure's own time.
func (r *runner) logFound(f *match.Failure, e *ingest.Entry, now time.Time) {
	if !r.stages.Spec.LogsFailures() {
		return
	}
	ctx := context.Background()
	h := r.log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	rec := slog.NewRecord(now, slog.LevelInfo, "found", 0)
	rec.AddAttrs(slog.String("addr", f.Addr.String()), slog.String("source", sourceOf(e)))
	if e != nil && e.Peer.IsValid() {
		rec.AddAttrs(slog.String("peer", e.Peer.String()))
	}
	rec.AddAttrs(slog.String("failed_at", r.found.timeText(f.Time)))
	r.handleLog(h, rec)
}

// sourceOf names the kind of source entry e came from, or for a file its
// path: "journal", "syslog" (the sender is the peer), "nats", or "bans"
// for a ban of another pipeline (a recidive pipeline's failure).
func sourceOf(e *ingest.Entry) string {
	switch {
	case e == nil || e.Recognised != nil:
		return "bans"
	case e.Peer.IsValid():
		return "syslog"
	case strings.HasPrefix(e.Pos.Key, "journald:"):
		return "journal"
	case e.Pos.Key == "" || strings.HasPrefix(e.Pos.Key, "jetstream:"):
		return "nats"
	}
	return e.Pos.Key
}
