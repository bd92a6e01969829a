package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/store"
)

// decisions records the decisions a runner enforces.
type decisions struct{ got []state.Decision }

func (d *decisions) Apply(_ context.Context, xs []state.Decision) error {
	d.got = append(d.got, xs...)
	return nil
}
func (d *decisions) Start(context.Context, []state.Decision, time.Time) error { return nil }
func (d *decisions) Stop()                                                    {}

// A restart neither starts "Total failed" over nor forgets the lines of
// failures counted before it: the ban decided after the restart carries
// them, as its ban event and mail show.
func TestRestartKeepsTotalsAndLines(t *testing.T) {
	dir := t.TempDir()
	c := loadConfig(t, dir, "pipelines:\n  m:\n    enabled: true\n    maxretry: 3\n    ingest: [{file: {paths: ["+filepath.Join(dir, "m.log")+"]}}]\n    match: {failregex: ['^denied <HOST>$']}\n")
	attacker := netip.MustParseAddr("203.0.113.9")
	line := func(i int) string { return fmt.Sprintf("denied 203.0.113.9 (attempt %d)", i) }

	// start runs the pipeline on the store in dir, restored as at start,
	// and returns it with what it enforces and a stop function.
	start := func() (*runner, *decisions, func()) {
		store := openStore(t, dir)
		rec := &decisions{}
		r, _ := buildRunner(t, c, store, rec)
		if err := r.restore(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel, r.done = cancel, make(chan struct{})
		go func() {
			defer close(r.done)
			r.run(ctx)
		}()
		stop := sync.OnceFunc(func() { cancel(); <-r.done; store.Close() })
		t.Cleanup(stop)
		return r, rec, stop
	}
	fail := func(r *runner, i int) {
		t.Helper()
		err := r.call(context.Background(), func() {
			r.fail(match.Failure{Pipeline: "m", Addr: attacker, Time: time.Now(), Line: line(i)}, time.Now())
			r.commit()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	stats := func(r *runner) (s state.Stats) {
		t.Helper()
		if err := r.call(context.Background(), func() { s = r.stages.Tracker.Stats() }); err != nil {
			t.Fatal(err)
		}
		return s
	}

	r, _, stop := start()
	fail(r, 1)
	fail(r, 2)
	stop()

	r, rec, stop := start()
	if s := stats(r); s.TotalFailed != 2 || s.CurrentlyFailed != 1 {
		t.Fatalf("after the restart: total failed %d, currently failed %d; want 2 and 1", s.TotalFailed, s.CurrentlyFailed)
	}
	fail(r, 3)
	if len(rec.got) != 1 || rec.got[0].Kind != state.Ban {
		t.Fatalf("decisions %+v: want one ban", rec.got)
	}
	if want := []string{line(1), line(2), line(3)}; !slices.Equal(rec.got[0].Lines, want) {
		t.Errorf("the ban carries lines %q, want %q", rec.got[0].Lines, want)
	}
	if s := stats(r); s.TotalFailed != 3 || s.TotalBanned != 1 {
		t.Errorf("total failed %d, total banned %d; want 3 and 1", s.TotalFailed, s.TotalBanned)
	}
	stop()

	// The ban is restored at the next start, and counted once.
	r, _, _ = start()
	if s := stats(r); s.TotalFailed != 3 || s.TotalBanned != 1 || s.CurrentlyBanned != 1 {
		t.Errorf("after the second restart: %+v; want 3 failed, 1 banned in total, 1 now", s)
	}
}

// A pipeline that cannot start keeps its stored bans enforced, through the
// same gate as restored bans: one the gate refuses now is lifted.
func TestKeepBansPassesTheGate(t *testing.T) {
	dir := t.TempDir()
	c := loadConfig(t, dir, "pipelines:\n  k:\n    enabled: true\n    ignoreip: [192.0.2.0/24]\n    ingest: [{file: {paths: ["+filepath.Join(dir, "k.log")+"]}}]\n    match: {failregex: ['^denied <HOST>$']}\n")
	db := openStore(t, dir)
	now := time.Now()
	ban := func(a string) state.Decision {
		return state.Decision{Kind: state.Ban, Pipeline: "k", Prefix: netip.MustParsePrefix(a), Time: now, Until: now.Add(time.Hour), BanCount: 1}
	}
	// Stored before ignoreip held 192.0.2.0/24; 127.0.0.2 as a hostile
	// import would leave it.
	if err := db.Commit("k", &store.Changes{Decisions: []state.Decision{ban("192.0.2.7/32"), ban("127.0.0.2/32"), ban("203.0.113.9/32")}}); err != nil {
		t.Fatal(err)
	}
	rec := &reconciled{}
	if err := keepBans(context.Background(), db, rec, "k", c.Enabled()[0].Policy(pipelines.Deps{}), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if len(rec.active) != 1 || rec.active[0].Prefix.String() != "203.0.113.9/32" {
		t.Errorf("enforced %v, want only 203.0.113.9", rec.active)
	}
	stored, err := db.Bans("k")
	if err != nil || len(stored) != 1 {
		t.Errorf("stored after: %v %v; want the refused bans lifted", stored, err)
	}
}

// reconciled records what a Start was given.
type reconciled struct {
	decisions
	active []state.Decision
}

func (r *reconciled) Start(_ context.Context, active []state.Decision, _ time.Time) error {
	r.active = active
	return nil
}

// A runner whose last commit fails as it stops (the store failing after
// reload's check) hands over no tracker: its windows are ahead of the
// stored positions, so the pipeline must start again from the store, and
// the error says why.
func TestStopHandsOverNoTrackerAfterAFailedCommit(t *testing.T) {
	dir := t.TempDir()
	c := loadConfig(t, dir, "pipelines:\n  s:\n    enabled: true\n    maxretry: 5\n    ingest: [{file: {paths: ["+filepath.Join(dir, "s.log")+"]}}]\n    match: {failregex: ['^denied <HOST>$']}\n")
	for _, fails := range []bool{false, true} {
		store := openStore(t, t.TempDir())
		r, _ := buildRunner(t, c, store, &decisions{})
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel, r.done = cancel, make(chan struct{})
		go func() {
			defer close(r.done)
			r.run(ctx)
		}()
		d := &Daemon{store: store, log: slog.New(slog.DiscardHandler), runners: map[string]*runner{"s": r}, order: []string{"s"}, failed: map[string]string{}}
		if fails {
			store.Close() // every commit from now on fails
		}
		err := r.call(context.Background(), func() {
			r.fail(match.Failure{Pipeline: "s", Addr: netip.MustParseAddr("203.0.113.4"), Time: time.Now(), Line: "denied 203.0.113.4"}, time.Now())
		})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := d.stopPipeline("s")
		if fails && (tr != nil || err == nil) {
			t.Errorf("last commit failed: tracker %v, err %v; want none and the error", tr, err)
		}
		if !fails && (tr == nil || err != nil) {
			t.Errorf("last commit stored: tracker %v, err %v; want the tracker", tr, err)
		}
	}
}
