package fleet

import (
	"context"
	"net/netip"
	"testing"
	"time"

	enfnats "github.com/logjail/logjail/enforce/nats"
	"github.com/logjail/logjail/ingest/nats"
	"github.com/logjail/logjail/state"
)

// fakePipeline is a running pipeline: a real tracker (its gate and ban
// policy), and the decisions it was given to enforce.
type fakePipeline struct {
	tracker *state.Tracker
	now     time.Time
	applied []state.Decision
	// stop, when set, is a reload that takes the pipeline out of the
	// directory after it was found, before it took the decisions.
	stop func()
}

func (p *fakePipeline) Adopt(_ context.Context, fn func(Bans)) error {
	if p.stop != nil {
		p.stop()
		return ErrStopped
	}
	fn(TrackerBans(p.tracker, p.now, func(d state.Decision) { p.applied = append(p.applied, d) }))
	return nil
}

// fakeDirectory holds the running pipelines and the shared names.
type fakeDirectory struct {
	running map[string]Pipeline
	shared  map[string]bool
}

func (d *fakeDirectory) Running(name string) (Pipeline, bool) {
	p, ok := d.running[name]
	return p, ok
}

func (d *fakeDirectory) Shared(name string) bool { return d.shared[name] }

var adoptNow = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// ban is a ban event of sshd decided by origin at adoptNow, for an hour.
func ban(origin, addr string, bits int) enfnats.Event {
	until := adoptNow.Add(time.Hour)
	return enfnats.Event{Type: "ban", Pipeline: "sshd", Addr: addr, Prefix: bits, Time: adoptNow, Received: adoptNow, Until: &until, Failures: 3, Reason: "3 failures", Origin: origin}
}

func unban(origin, addr string, received time.Time) enfnats.Event {
	return enfnats.Event{Type: "unban", Pipeline: "sshd", Addr: addr, Prefix: 32, Time: received, Received: received, Origin: origin}
}

func with(ev enfnats.Event, change func(*enfnats.Event)) enfnats.Event {
	change(&ev)
	return ev
}

// applied is what a decision looks like in the table below.
type applied struct {
	kind   state.Kind
	prefix string
	origin string
	reason string
}

func TestAdoptRules(t *testing.T) {
	own := state.Decision{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.MustParsePrefix("203.0.113.9/32"), Time: adoptNow.Add(-time.Minute), Until: adoptNow.Add(time.Hour), Reason: "3 failures"}
	for _, tc := range []struct {
		name   string
		before []state.Decision // bans the pipeline holds
		events []enfnats.Event
		want   []applied
	}{
		{"another node's ban", nil, []enfnats.Event{ban("b", "203.0.113.7", 32)},
			[]applied{{state.Ban, "203.0.113.7/32", "b", "fleet: 3 failures on b"}}},
		{"own ban replayed, restored as own", nil, []enfnats.Event{ban("self", "203.0.113.7", 32)},
			[]applied{{state.Ban, "203.0.113.7/32", "", "3 failures"}}},
		{"mapped address unmapped", nil, []enfnats.Event{ban("b", "::ffff:203.0.113.7", 128)},
			[]applied{{state.Ban, "203.0.113.7/32", "b", "fleet: 3 failures on b"}}},
		{"NATS server refused", nil, []enfnats.Event{ban("b", "198.51.100.53", 32)}, nil},
		{"mapped NATS server refused", nil, []enfnats.Event{ban("b", "::ffff:198.51.100.53", 128)}, nil},
		{"prefix over the NATS server refused", nil, []enfnats.Event{ban("b", "198.51.100.0", 24)}, nil},
		{"wider than the pipeline bans refused", nil, []enfnats.Event{ban("b", "0.0.0.0", 0)}, nil},
		{"not a host address refused", nil, []enfnats.Event{ban("b", "224.0.0.1", 32)}, nil},
		{"unparsable address skipped", nil, []enfnats.Event{ban("b", "nope", 32), ban("b", "203.0.113.7", 33)}, nil},
		{"expired ban not adopted", nil, []enfnats.Event{with(ban("b", "203.0.113.7", 32), func(e *enfnats.Event) {
			until := adoptNow.Add(-time.Second)
			e.Until = &until
		})}, nil},
		{"duplicate adopted once", nil, []enfnats.Event{ban("b", "203.0.113.7", 32), ban("c", "203.0.113.7", 32)},
			[]applied{{state.Ban, "203.0.113.7/32", "b", "fleet: 3 failures on b"}}},
		{"ban then unban, in order", nil, []enfnats.Event{ban("b", "203.0.113.7", 32), unban("c", "203.0.113.7", adoptNow)},
			[]applied{{state.Ban, "203.0.113.7/32", "b", "fleet: 3 failures on b"}, {state.Unban, "203.0.113.7/32", "b", "fleet: unbanned on c"}}},
		{"unban then ban, in order", nil, []enfnats.Event{unban("c", "203.0.113.7", adoptNow), ban("b", "203.0.113.7", 32)},
			[]applied{{state.Ban, "203.0.113.7/32", "b", "fleet: 3 failures on b"}}},
		{"unban of nothing", nil, []enfnats.Event{unban("c", "203.0.113.7", adoptNow)}, nil},
		{"old unban keeps a newer own ban", []state.Decision{own}, []enfnats.Event{unban("c", "203.0.113.9", adoptNow.Add(-time.Hour))}, nil},
		{"newer unban lifts an own ban", []state.Decision{own}, []enfnats.Event{unban("c", "203.0.113.9", adoptNow)},
			[]applied{{state.Unban, "203.0.113.9/32", "", "fleet: unbanned on c"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &fakePipeline{tracker: testTracker(), now: adoptNow}
			for _, d := range tc.before {
				p.tracker.Record(d)
			}
			f := testFleet(&fakeDirectory{running: map[string]Pipeline{"sshd": p}, shared: map[string]bool{"sshd": true}})
			f.adopt(context.Background(), tc.events)
			if len(p.applied) != len(tc.want) {
				t.Fatalf("applied %+v, want %+v", p.applied, tc.want)
			}
			for i, d := range p.applied {
				got := applied{d.Kind, d.Prefix.String(), d.Origin, d.Reason}
				if got != tc.want[i] {
					t.Errorf("decision %d: %+v, want %+v", i, got, tc.want[i])
				}
				if !d.Fleet {
					t.Errorf("decision %d not marked as the fleet's (it would be shared back)", i)
				}
			}
		})
	}
}

// Decisions for a shared pipeline not running yet wait for it; those of a
// pipeline the configuration does not share are dropped; a pipeline that
// runs unshared takes none; one stopped by a reload passes them on.
func TestAdoptWhileNotRunning(t *testing.T) {
	dir := &fakeDirectory{running: map[string]Pipeline{"web": nil}, shared: map[string]bool{"sshd": true, "web": true}}
	f := testFleet(dir)
	other := with(ban("b", "203.0.113.8", 32), func(e *enfnats.Event) { e.Pipeline = "unknown" })
	unshared := with(ban("b", "203.0.113.9", 32), func(e *enfnats.Event) { e.Pipeline = "web" })
	f.adopt(context.Background(), []enfnats.Event{ban("b", "203.0.113.7", 32), other, unshared})
	if len(f.pending) != 1 || f.pending[0].Pipeline != "sshd" {
		t.Fatalf("pending %+v, want the sshd ban only", f.pending)
	}

	// A reload stops the runner found; the new one is not registered yet.
	stopped := &fakePipeline{tracker: testTracker(), now: adoptNow}
	stopped.stop = func() { delete(dir.running, "sshd") }
	dir.running["sshd"] = stopped
	f.adopt(context.Background(), []enfnats.Event{ban("b", "203.0.113.10", 32)})
	if len(f.pending) != 2 || len(stopped.applied) != 0 {
		t.Fatalf("pending %+v, want two sshd bans", f.pending)
	}

	p := &fakePipeline{tracker: testTracker(), now: adoptNow}
	dir.running["sshd"] = p
	f.Started(context.Background(), "sshd")
	if len(p.applied) != 2 || len(f.pending) != 0 {
		t.Fatalf("applied %+v, pending %+v", p.applied, f.pending)
	}
	if p.applied[0].Prefix.String() != "203.0.113.7/32" || p.applied[1].Prefix.String() != "203.0.113.10/32" {
		t.Errorf("applied out of order: %+v", p.applied)
	}
}

// A failure another node shared reaches the pipeline as recognised, with
// its node; this node's own and the NATS servers' never do.
func TestDecodeFailure(t *testing.T) {
	f := testFleet(nil)
	for _, tc := range []struct {
		name, node, data string
		want             nats.Verdict
		addr             string
		at               time.Time
	}{
		{"another node's", "b", `{"addr":"203.0.113.7","time":"2026-11-25T07:00:00Z","user":"root","line":"l"}`, nats.Deliver, "203.0.113.7", adoptNow.Add(-time.Hour)},
		{"mapped, unmapped", "b", `{"addr":"::ffff:203.0.113.7","time":"2026-11-25T07:00:00Z"}`, nats.Deliver, "203.0.113.7", adoptNow.Add(-time.Hour)},
		{"from the future, now", "b", `{"addr":"203.0.113.7","time":"2999-01-01T00:00:00Z"}`, nats.Deliver, "203.0.113.7", adoptNow},
		{"own node's ignored", "self", `{"addr":"203.0.113.7","time":"2026-11-25T07:00:00Z"}`, nats.Skip, "", time.Time{}},
		{"NATS server skipped", "b", `{"addr":"198.51.100.53","time":"2026-11-25T07:00:00Z"}`, nats.Skip, "", time.Time{}},
		{"mapped NATS server skipped", "b", `{"addr":"::ffff:198.51.100.53","time":"2026-11-25T07:00:00Z"}`, nats.Skip, "", time.Time{}},
		{"no time", "b", `{"addr":"203.0.113.7"}`, nats.Bad, "", time.Time{}},
		{"not a host", "b", `{"addr":"224.0.0.1","time":"2026-11-25T07:00:00Z"}`, nats.Bad, "", time.Time{}},
		{"not JSON", "b", `nope`, nats.Bad, "", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, v := f.decodeFailure(map[string][]string{headerNode: {tc.node}}, []byte(tc.data), adoptNow)
			if v != tc.want {
				t.Fatalf("verdict %v, want %v", v, tc.want)
			}
			if v != nats.Deliver {
				return
			}
			rec := e.Recognised
			if rec == nil || !rec.Fleet || rec.Node != tc.node || rec.Addr.String() != tc.addr || !e.Time.Equal(tc.at) {
				t.Errorf("entry %+v, recognised %+v", e, rec)
			}
		})
	}
}
