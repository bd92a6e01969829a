package daemon

import (
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
)

// A failure recognised before the pipeline (a ban of another pipeline, a
// failure another node of the fleet saw) is counted without the filter,
// which would miss its line: as matched, or as the fleet's; the gate
// still decides, and the ban carries its lines.
func TestRecognisedFailures(t *testing.T) {
	for _, tc := range []struct {
		name            string
		addr            string
		fleet           bool
		matched, shared uint64
		banned          bool
	}{
		{"ban of another pipeline", "203.0.113.7", false, 2, 0, true},
		{"failure of another node", "203.0.113.8", true, 0, 2, true},
		{"refused by the gate", "192.0.2.1", false, 2, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := loadConfig(t, dir, "pipelines:\n  m:\n    enabled: true\n    maxretry: 2\n    ignoreip: [192.0.2.0/24]\n    ingest: [{file: {paths: ["+filepath.Join(dir, "m.log")+"]}}]\n    match: {failregex: ['^denied <HOST>$']}\n")
			store := openStore(t, dir)
			r, st := buildRunner(t, c, store, &decisions{})
			addr := netip.MustParseAddr(tc.addr)
			line := "sshd banned " + tc.addr
			for range 2 {
				r.process(ingest.Entry{Time: time.Now(), ReadAt: time.Now(), Message: line, Recognised: &ingest.Recognised{Addr: addr, Fleet: tc.fleet, Node: map[bool]string{true: "b"}[tc.fleet]}})
			}
			if r.matched != tc.matched || r.shared != tc.shared || r.missed != 0 {
				t.Errorf("matched %d, shared %d, missed %d; want %d, %d, 0", r.matched, r.shared, r.missed, tc.matched, tc.shared)
			}
			d, ok := st.Tracker.BanOf(netip.PrefixFrom(addr, 32))
			if ok != tc.banned {
				t.Fatalf("banned %v, want %v", ok, tc.banned)
			}
			if ok && (d.Failures != 2 || !slices.Contains(d.Lines, line)) {
				t.Errorf("ban %+v", d)
			}
			if refused := st.Tracker.Stats().Ignored; !tc.banned && refused == 0 {
				t.Error("the gate's refusal is not counted")
			}
		})
	}
}
