package daemon

import (
	"bytes"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/logjail/logjail/state"
)

// TestLogBanAsInfo checks that a ban's log line, made without Logger.Info
// (see logBan), is the line Logger.Info writes, in both log formats.
func TestLogBanAsInfo(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 7, 13, 18, 0, time.UTC)
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	handlers := []struct {
		name string
		make func(io.Writer, slog.Level) slog.Handler
	}{
		{"text", func(w io.Writer, l slog.Level) slog.Handler {
			return slog.NewTextHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: noTime})
		}},
		{"json", func(w io.Writer, l slog.Level) slog.Handler {
			return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: noTime})
		}},
	}
	bans := []state.Decision{
		{Kind: state.Ban, Prefix: netip.MustParsePrefix("192.0.2.7/32"), Time: t0, Until: t0.Add(time.Hour), Failures: 5, Reason: "5 failures within 10m"},
		{Kind: state.Ban, Prefix: netip.MustParsePrefix("2001:db8::/64"), Time: t0, Failures: 3, Reason: `a "quoted" reason`},
	}
	for _, hc := range handlers {
		for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
			for _, d := range bans {
				t.Run(hc.name+"/"+level.String()+"/"+d.Prefix.String(), func(t *testing.T) {
					var got, want bytes.Buffer
					r := &runner{log: slog.New(hc.make(&got, level)).With("pipeline", "sshd")}
					r.logBan(d)
					slog.New(hc.make(&want, level)).With("pipeline", "sshd").Info("ban",
						"addr", prefixText(d), "failures", d.Failures, "until", untilText(d), "reason", d.Reason)
					if got.String() != want.String() {
						t.Errorf("logBan wrote\n%q\nLogger.Info writes\n%q", got.String(), want.String())
					}
				})
			}
		}
	}
}
