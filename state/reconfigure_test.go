package state

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// A reload that keeps the windows re-checks the active bans against the
// new gate: an address added to ignoreip is lifted at once, as a restart
// would; a reload that changes the windows' shape keeps nothing.
func TestReconfigure(t *testing.T) {
	for _, tc := range []struct {
		name       string
		change     func(*Policy)
		kept       bool
		wantActive []string
		wantLifted []string
	}{
		{"bantime only", func(p *Policy) { p.BanTime = 2 * time.Hour }, true, []string{"198.51.100.1/32", "198.51.100.2/32"}, nil},
		{"ignoreip covers a ban", func(p *Policy) {
			p.IgnoreIP = append(p.IgnoreIP, netip.MustParsePrefix("198.51.100.2/32"))
		}, true, []string{"198.51.100.1/32"}, []string{"198.51.100.2/32"}},
		{"maxretry changes the windows", func(p *Policy) { p.MaxRetry = 5 }, false, []string{"198.51.100.1/32", "198.51.100.2/32"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestTracker(time.Hour)
			for _, a := range []string{"198.51.100.1", "198.51.100.2"} {
				if _, why := banThroughGate(tr, netip.MustParsePrefix(a+"/32"), time.Hour, t0); why != "" {
					t.Fatal(why)
				}
			}
			p := tr.Policy()
			tc.change(&p)
			lifted, kept := tr.Reconfigure(p, t0)
			if kept != tc.kept {
				t.Fatalf("kept %v, want %v", kept, tc.kept)
			}
			var active, gone []string
			for _, d := range tr.Active() {
				active = append(active, d.Prefix.String())
			}
			for _, d := range lifted {
				if d.Kind != Unban || !strings.HasPrefix(d.Reason, RefusedReason+"ignoreip") {
					t.Errorf("lifted %+v: want an unban refused by ignoreip", d)
				}
				gone = append(gone, d.Prefix.String())
			}
			if strings.Join(active, ",") != strings.Join(tc.wantActive, ",") || strings.Join(gone, ",") != strings.Join(tc.wantLifted, ",") {
				t.Errorf("active %v lifted %v, want %v and %v", active, gone, tc.wantActive, tc.wantLifted)
			}
		})
	}
}
