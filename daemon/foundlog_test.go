package daemon

import (
	"bytes"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/pipelines"
)

// TestLogFoundAsInfo checks that a failure's found line, made without
// Logger.Info (see logFound), is the line Logger.Info writes, for each
// kind of source, and that log_failures: false and a level above info
// silence it.
func TestLogFoundAsInfo(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 7, 13, 18, 0, time.UTC)
	now := t0.Add(3 * time.Second)
	addr := netip.MustParseAddr("192.0.2.7")
	peer := netip.MustParseAddr("198.51.100.1")
	off := false
	for _, tc := range []struct {
		name   string
		entry  *ingest.Entry
		spec   *pipelines.Pipeline
		level  slog.Level
		source string
		peer   bool
	}{
		{"file", &ingest.Entry{Pos: ingest.Position{Key: "/var/log/auth.log"}}, &pipelines.Pipeline{}, slog.LevelInfo, "/var/log/auth.log", false},
		{"journal", &ingest.Entry{Pos: ingest.Position{Key: "journald:_SYSTEMD_UNIT=ssh.service"}}, nil, slog.LevelInfo, "journal", false},
		{"syslog", &ingest.Entry{Peer: peer}, nil, slog.LevelDebug, "syslog", true},
		{"nats", &ingest.Entry{}, nil, slog.LevelInfo, "nats", false},
		{"jetstream", &ingest.Entry{Pos: ingest.Position{Key: "jetstream:LOGS/logjail/7"}}, nil, slog.LevelInfo, "nats", false},
		{"bans", &ingest.Entry{Recognised: &ingest.Recognised{Addr: addr}}, nil, slog.LevelInfo, "bans", false},
		{"log_failures false", &ingest.Entry{}, &pipelines.Pipeline{LogFailures: &off}, slog.LevelInfo, "", false},
		{"level warn", &ingest.Entry{}, nil, slog.LevelWarn, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got, want bytes.Buffer
			opts := &slog.HandlerOptions{Level: tc.level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{} // Logger.Info stamps the wall clock, logFound the batch's now
				}
				return a
			}}
			r := &runner{stages: &pipelines.Stages{Spec: tc.spec}, log: slog.New(slog.NewTextHandler(&got, opts)).With("pipeline", "sshd")}
			f := match.Failure{Addr: addr, Time: t0}
			r.logFound(&f, tc.entry, now)
			r.logFound(&f, tc.entry, now) // the second from the time cache
			if tc.source != "" {
				l := slog.New(slog.NewTextHandler(&want, opts)).With("pipeline", "sshd")
				args := []any{"addr", "192.0.2.7", "source", tc.source}
				if tc.peer {
					args = append(args, "peer", peer.String())
				}
				args = append(args, "failed_at", "2026-11-25T07:13:18Z")
				for range 2 {
					l.Log(t.Context(), slog.LevelInfo, "found", args...)
				}
			}
			if got.String() != want.String() {
				t.Errorf("logFound wrote\n%s\nLogger.Info writes\n%s", got.String(), want.String())
			}
		})
	}
}
