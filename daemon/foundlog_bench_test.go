package daemon

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/pipelines"
)

// BenchmarkLogFound is the cost of one found line on the runner, into a
// handler that drops it (the daemon benchmark's) and into logjail run's
// text handler and LogWriter (on io.Discard).
func BenchmarkLogFound(b *testing.B) {
	e := &ingest.Entry{Pos: ingest.Position{Key: "/var/log/auth.log"}}
	f := match.Failure{Addr: netip.MustParseAddr("192.0.2.7"), Time: time.Now()}
	for _, hc := range []struct {
		name string
		h    slog.Handler
	}{
		{"dropped", dropHandler{}},
		{"text", slog.NewTextHandler(NewLogWriter(io.Discard), &slog.HandlerOptions{Level: slog.LevelInfo})},
	} {
		b.Run(hc.name, func(b *testing.B) {
			r := &runner{stages: &pipelines.Stages{Spec: &pipelines.Pipeline{}}, log: slog.New(hc.h).With("pipeline", "sshd")}
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				r.logFound(&f, e, now)
			}
		})
	}
}

// dropHandler takes info records and drops them.
type dropHandler struct{}

func (dropHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (dropHandler) Handle(context.Context, slog.Record) error    { return nil }
func (h dropHandler) WithAttrs([]slog.Attr) slog.Handler         { return h }
func (h dropHandler) WithGroup(string) slog.Handler              { return h }
