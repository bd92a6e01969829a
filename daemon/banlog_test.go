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
		{Kind: state.Ban, Prefix: netip.MustParsePrefix("192.0.2.8/32"), Time: t0, Until: t0.Add(time.Hour + 999*time.Millisecond), Failures: 5, Reason: "5 failures within 10m"},
		{Kind: state.Ban, Prefix: netip.MustParsePrefix("192.0.2.9/32"), Time: t0, Until: t0.Add(time.Hour + time.Second), Failures: 5, Reason: "5 failures within 10m"},
		{Kind: state.Ban, Prefix: netip.MustParsePrefix("2001:db8::/64"), Time: t0, Failures: 3, Reason: `a "quoted" reason`},
		{Kind: state.Ban, Prefix: netip.MustParsePrefix("192.0.2.10/32"), Time: t0, Until: t0.Add(-time.Hour).In(time.FixedZone("X", 3600)), Failures: 5, Reason: "5 failures within 10m"},
	}
	for _, hc := range handlers {
		for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
			t.Run(hc.name+"/"+level.String(), func(t *testing.T) {
				var got, want bytes.Buffer
				// One runner for all the bans: its ends' texts are reused.
				r := &runner{log: slog.New(hc.make(&got, level)).With("pipeline", "sshd")}
				l := slog.New(hc.make(&want, level)).With("pipeline", "sshd")
				for _, d := range bans {
					r.logBan(d)
					l.Info("ban", "addr", prefixText(d), "failures", d.Failures, "until", untilText(d), "reason", d.Reason)
				}
				if got.String() != want.String() {
					t.Errorf("logBan wrote\n%s\nLogger.Info writes\n%s", got.String(), want.String())
				}
			})
		}
	}
}
