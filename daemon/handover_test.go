package daemon

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/store"
)

// gatedStore is the state store behind a runner's commits, which fails
// the commits it is told to fail and holds each one until the test lets
// it go on (when gated).
type gatedStore struct {
	real  *store.Store
	fail  atomic.Int32 // how many commits to fail from now on
	gate  chan struct{}
	mu    sync.Mutex
	tried [][]string // each commit's decisions, in order: "+ADDR" a ban, "-ADDR" an unban
}

func (g *gatedStore) Commit(pipeline string, c *store.Changes) error {
	if g.gate != nil {
		<-g.gate
	}
	var ds []string
	for _, d := range c.Decisions {
		sign := "+"
		if d.Kind == state.Unban {
			sign = "-"
		}
		ds = append(ds, sign+d.Prefix.Addr().String())
	}
	g.mu.Lock()
	g.tried = append(g.tried, ds)
	g.mu.Unlock()
	if g.fail.Add(-1) >= 0 {
		return errors.New("disk full")
	}
	return g.real.Commit(pipeline, c)
}

// handOverRunner is a runner of a pipeline that bans at the first
// "denied ADDR" line, committing through a gatedStore.
func handOverRunner(t *testing.T) (*runner, *gatedStore, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	c := loadConfig(t, dir, "pipelines:\n  h:\n    enabled: true\n    maxretry: 1\n    ingest: [{file: {paths: ["+filepath.Join(dir, "h.log")+"]}}]\n    match: {failregex: ['^denied <HOST>$']}\n")
	s := openStore(t, dir)
	r, _ := buildRunner(t, c, s, &decisions{})
	g := &gatedStore{real: s}
	r.commits = g
	return r, g, s
}

// denied is a failure line of addr at position pos of stream "h.log".
// Its first acknowledgement notes in *acked the position the store held
// then.
func denied(s *store.Store, addr, pos string, acked *atomic.Value) ingest.Entry {
	ack := func() {
		p, _ := s.Scoped("h").Position("h.log")
		acked.CompareAndSwap(nil, string(p))
	}
	return ingest.Entry{Message: "denied " + addr, ReadAt: time.Now(), Pos: ingest.Position{Key: "h.log", Value: []byte(pos)}, Ack: ack}
}

// A commit that fails keeps its changes: the next commit stores them in
// front of its own (a ban, then the unban that came after it: the address
// ends unbanned; the later position wins), and the acknowledgements of
// both batches' entries run only then.
func TestFailedCommitGoesInFrontOfTheNext(t *testing.T) {
	r, g, s := handOverRunner(t)
	var acked1, acked2 atomic.Value
	a, b := netip.MustParsePrefix("203.0.113.1/32"), netip.MustParsePrefix("203.0.113.2/32")

	r.process(denied(s, "203.0.113.1", "1", &acked1))
	g.fail.Store(1)
	if err := r.commit(); err == nil {
		t.Fatal("the failing commit reported success")
	}
	if acked1.Load() != nil || r.commitErrors != 1 || r.uncommitted != 1 {
		t.Fatalf("after the failed commit: acked %v, %d commit errors, %d uncommitted; want not acked, 1, 1", acked1.Load(), r.commitErrors, r.uncommitted)
	}

	r.process(denied(s, "203.0.113.2", "2", &acked2))
	unban, ok := r.stages.Tracker.PlanUnban(a, "manual", time.Now())
	if !ok {
		t.Fatal("nothing to unban")
	}
	r.stages.Tracker.Lift(unban)
	r.apply(unban)
	if err := r.commit(); err != nil {
		t.Fatal(err)
	}
	if acked1.Load() != "2" || acked2.Load() != "2" || r.uncommitted != 0 {
		t.Errorf("after the good commit: acked with stored positions %v and %v, %d uncommitted; want both acked after position 2 was stored, none", acked1.Load(), acked2.Load(), r.uncommitted)
	}
	if want := [][]string{{"+203.0.113.1"}, {"+203.0.113.1", "+203.0.113.2", "-203.0.113.1"}}; !slices.EqualFunc(g.tried, want, slices.Equal) {
		t.Errorf("decisions of each commit %v, want %v", g.tried, want)
	}
	stored, err := s.Bans("h")
	if err != nil || len(stored) != 1 || stored[0].Prefix != b {
		t.Errorf("stored bans %+v (%v), want %s only", stored, err, b)
	}
	if pos, err := s.Scoped("h").Position("h.log"); err != nil || string(pos) != "2" {
		t.Errorf("stored position %q (%v), want the later one", pos, err)
	}
}

// An unban and the re-ban that follows it between two commits (an
// expiry, then the attacker's next failure) are stored in that order:
// the address stays banned in the store, as it is in the tracker and the
// kernel, and a restart keeps the ban.
func TestUnbanThenRebanStoredInOrder(t *testing.T) {
	r, g, s := handOverRunner(t)
	var acked atomic.Value
	r.process(denied(s, "203.0.113.1", "1", &acked))
	if err := r.commit(); err != nil {
		t.Fatal(err)
	}
	a := netip.MustParsePrefix("203.0.113.1/32")
	unban, ok := r.stages.Tracker.PlanUnban(a, "expired", time.Now())
	if !ok {
		t.Fatal("nothing to unban")
	}
	r.stages.Tracker.Lift(unban)
	r.apply(unban)
	r.process(denied(s, "203.0.113.1", "2", &acked))
	if err := r.commit(); err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"+203.0.113.1"}, {"-203.0.113.1", "+203.0.113.1"}}; !slices.EqualFunc(g.tried, want, slices.Equal) {
		t.Errorf("decisions of each commit %v, want %v", g.tried, want)
	}
	stored, err := s.Bans("h")
	if err != nil || len(stored) != 1 || stored[0].Prefix != a {
		t.Errorf("stored bans %+v (%v), want %s banned again", stored, err, a)
	}
}

// The runner hands a commit over and goes on: the entries are
// acknowledged once it is stored, not before; a commit handed over while
// one runs waits for it, and both are stored in order.
func TestAcksRunAfterTheirCommit(t *testing.T) {
	r, g, s := handOverRunner(t)
	g.gate = make(chan struct{})
	var acked1, acked2 atomic.Value
	r.process(denied(s, "203.0.113.1", "1", &acked1))
	r.handOver()
	if !r.committing {
		t.Fatal("no commit in flight")
	}
	r.process(denied(s, "203.0.113.2", "2", &acked2))
	if acked1.Load() != nil || acked2.Load() != nil || r.uncommitted != 2 {
		t.Fatalf("acked %v %v, %d uncommitted, before the commit is stored", acked1.Load(), acked2.Load(), r.uncommitted)
	}
	close(g.gate)
	if err := r.commit(); err != nil { // waits for the first, then makes the second
		t.Fatal(err)
	}
	if acked1.Load() != "1" || acked2.Load() != "2" || r.uncommitted != 0 || r.committing {
		t.Errorf("acked with stored positions %v and %v, %d uncommitted, committing %v; want each acked once its position is stored, none uncommitted", acked1.Load(), acked2.Load(), r.uncommitted, r.committing)
	}
	if want := [][]string{{"+203.0.113.1"}, {"+203.0.113.2"}}; !slices.EqualFunc(g.tried, want, slices.Equal) {
		t.Errorf("decisions of each commit %v, want %v", g.tried, want)
	}
}

// slowEnforcer records what it applies, each call held until the test
// lets it go on.
type slowEnforcer struct {
	decisions
	gate  chan struct{}
	calls atomic.Int32
}

func (e *slowEnforcer) Apply(ctx context.Context, ds []state.Decision) error {
	<-e.gate
	e.calls.Add(1)
	return e.decisions.Apply(ctx, ds)
}

// The enforcers hear the decisions in the order they were taken, a ban
// before its unban, whatever waits behind a slow enforcer going in one
// batch; call returns once the decisions its function took are applied.
func TestEnforcedInDecisionOrder(t *testing.T) {
	dir := t.TempDir()
	c := loadConfig(t, dir, "pipelines:\n  e:\n    enabled: true\n    ingest: [{file: {paths: ["+filepath.Join(dir, "e.log")+"]}}]\n    match: {failregex: ['^denied <HOST>$']}\n")
	slow := &slowEnforcer{gate: make(chan struct{})}
	r := newTestRunner(t, c.Enabled()[0], openStore(t, dir), slow)
	a, b := netip.MustParsePrefix("203.0.113.1/32"), netip.MustParsePrefix("203.0.113.2/32")
	now := time.Now()
	decide := func(k state.Kind, p netip.Prefix) {
		r.apply(state.Decision{Kind: k, Pipeline: "e", Prefix: p, Time: now, Until: now.Add(time.Hour)})
		r.enforcePending() // the runner goes on: the enforcer is held
	}
	decide(state.Ban, a)
	decide(state.Unban, a)
	decide(state.Ban, b)
	decide(state.Unban, b)
	decide(state.Ban, a)
	close(slow.gate)
	r.enforcing.wait()
	want := []string{"ban 203.0.113.1/32", "unban 203.0.113.1/32", "ban 203.0.113.2/32", "unban 203.0.113.2/32", "ban 203.0.113.1/32"}
	if got := kinds(slow.got); !slices.Equal(got, want) {
		t.Errorf("applied %q, want %q", got, want)
	}
	if n := slow.calls.Load(); n > 2 {
		t.Errorf("%d calls to Apply: the decisions queued behind the first are not batched", n)
	}

	ctx, _ := startRunner(t, r)
	if err := r.call(ctx, func() { decide(state.Unban, a) }); err != nil {
		t.Fatal(err)
	}
	if got := kinds(slow.got); len(got) != len(want)+1 || got[len(want)] != "unban 203.0.113.1/32" {
		t.Errorf("after call: applied %q, want the unban last", got)
	}
}

// kinds describes decisions as "ban PREFIX" or "unban PREFIX".
func kinds(ds []state.Decision) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = "unban " + d.Prefix.String()
		if d.Kind == state.Ban {
			out[i] = "ban " + d.Prefix.String()
		}
	}
	return out
}
