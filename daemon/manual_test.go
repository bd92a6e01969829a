package daemon

import (
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/logjail/logjail/state"
)

// A manual decision the store cannot commit changes nothing: the tracker
// keeps its bans and the enforcer hears nothing. The store fails for real:
// bbolt refuses to write to a closed database.
func TestManualDecisionNotStoredChangesNothing(t *testing.T) {
	banned := netip.MustParsePrefix("203.0.113.1/32")
	other := netip.MustParsePrefix("203.0.113.2/32")
	for _, tc := range []struct {
		name   string
		decide func(tr *state.Tracker, now time.Time) []state.Decision
	}{
		{"ban", func(tr *state.Tracker, now time.Time) []state.Decision {
			return []state.Decision{plan(t, tr, other, time.Hour, now)}
		}},
		{"renewed ban", func(tr *state.Tracker, now time.Time) []state.Decision {
			return []state.Decision{plan(t, tr, banned, 2*time.Hour, now)}
		}},
		{"unban", func(tr *state.Tracker, now time.Time) []state.Decision {
			d, ok := tr.PlanUnban(banned, "manual", now)
			if !ok {
				t.Fatal("nothing to unban")
			}
			return []state.Decision{d}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := loadConfig(t, dir, "pipelines:\n  m:\n    enabled: true\n    ingest: [{file: {paths: ["+filepath.Join(dir, "m.log")+"]}}]\n    match: {failregex: ['^denied <HOST>$']}\n")
			store := openStore(t, dir)
			rec := &decisions{}
			r, st := buildRunner(t, c, store, rec)
			now := time.Now()
			if err := r.decideManual([]state.Decision{plan(t, st.Tracker, banned, time.Hour, now)}); err != nil {
				t.Fatal(err)
			}
			before, heard := st.Tracker.Active(), len(rec.got)

			store.Close()
			if err := r.decideManual(tc.decide(st.Tracker, now.Add(time.Second))); err == nil {
				t.Fatal("a decision the store refused was reported done")
			}
			if after := st.Tracker.Active(); !slices.EqualFunc(after, before, func(a, b state.Decision) bool {
				return a.Prefix == b.Prefix && a.Until.Equal(b.Until)
			}) {
				t.Errorf("tracker changed: %v, was %v", after, before)
			}
			if len(rec.got) != heard {
				t.Errorf("the enforcer heard %v", rec.got[heard:])
			}
			if n := r.commitErrors; n == 0 {
				t.Error("the failed commit is not counted")
			}
		})
	}
}

// plan is a manual ban the gate admits.
func plan(t *testing.T, tr *state.Tracker, p netip.Prefix, dur time.Duration, now time.Time) state.Decision {
	t.Helper()
	d, why := tr.PlanBan(p, dur, "manual", now, tr.Gate().Admit(p))
	if why != "" {
		t.Fatalf("the gate refused %s: %s", p, why)
	}
	return d
}
