package main

import (
	"testing"
	"time"

	"github.com/logjail/logjail/pipelines/simulate"
)

// TestSimulatedBan: a simulated ban's line writes its length as status
// and the YAML do (1h, 1d12h, 2w; never Go's 1h0m0s), the prefix of a
// network ban, or "permanently".
func TestSimulatedBan(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 7, 13, 18, 0, time.UTC)
	local := func(d time.Duration) string { return at.Add(d).Local().Format(time.RFC3339) }
	until := func(d time.Duration) *time.Time { u := at.Add(d); return &u }
	for _, tc := range []struct {
		name string
		ban  simulate.Ban
		want string
	}{
		{"an hour", simulate.Ban{Addr: "192.0.2.1", Prefix: 32, Until: until(time.Hour), BanTimeS: 3600},
			"192.0.2.1\tbanned " + local(0) + " for 1h until " + local(time.Hour)},
		{"a day and a half", simulate.Ban{Addr: "192.0.2.1", Prefix: 32, Until: until(36 * time.Hour), BanTimeS: 36 * 3600},
			"192.0.2.1\tbanned " + local(0) + " for 1d12h until " + local(36*time.Hour)},
		{"two weeks, a network", simulate.Ban{Addr: "2001:db8::", Prefix: 64, Until: until(14 * 24 * time.Hour), BanTimeS: 14 * 24 * 3600},
			"2001:db8::/64\tbanned " + local(0) + " for 2w until " + local(14*24*time.Hour)},
		{"permanent", simulate.Ban{Addr: "192.0.2.1", Prefix: 32, BanTimeS: -1},
			"192.0.2.1\tbanned " + local(0) + " permanently"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.ban
			b.Pipeline, b.Time, b.BanCount, b.Reason = "sshd", at, 1, "r"
			if want := "sshd\t" + tc.want + " (ban 1; r)"; simulatedBan(b) != want {
				t.Errorf("got  %q\nwant %q", simulatedBan(b), want)
			}
		})
	}
}
