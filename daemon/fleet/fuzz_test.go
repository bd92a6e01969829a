package fleet

import (
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	enfnats "github.com/logjail/logjail/enforce/nats"
	"github.com/logjail/logjail/ingest/nats"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
)

// natsServer is the NATS server of the test fleets.
var natsServer = netip.MustParseAddr("198.51.100.53")

// testBounds are the daemon's bounds on a ban's lines.
var testBounds = Bounds{Lines: 50, LineBytes: 512}

// testFleet is node "self" of a fleet whose NATS server is natsServer.
func testFleet(dir Directory) *Fleet {
	return &Fleet{spec: &pipelines.Fleet{Node: "self"}, servers: []netip.Addr{natsServer}, bounds: testBounds, dir: dir, log: slog.New(slog.DiscardHandler), stop: func() {}}
}

// testTracker is a pipeline's tracker whose gate knows natsServer.
func testTracker() *state.Tracker { return testTrackerAsking(nil) }

// testTrackerAsking is testTracker with the ignorecommand check.
func testTrackerAsking(check func(netip.Addr) bool) *state.Tracker {
	return state.NewTracker(state.Policy{Pipeline: "sshd", MaxRetry: 3, FindTime: time.Hour, BanTime: time.Hour, MaxTracked: 10, IPv4Prefix: 32, IPv6Prefix: 64,
		Servers: gate.NewSet(netip.PrefixFrom(natsServer, 32)), IgnoreCheck: check})
}

// FuzzFleetFailure decodes any bytes as a failure another node shared. A
// delivered failure names a host address (unmapped, not the NATS server),
// is not dated in the future, and its text is valid UTF-8 within bounds.
func FuzzFleetFailure(f *testing.F) {
	long := strings.Repeat("é", testBounds.LineBytes)
	for _, s := range []struct{ node, data string }{
		{"b", `{"addr":"203.0.113.7","time":"2026-11-25T07:00:00Z","user":"root","line":"Failed password for root from 203.0.113.7"}`},
		{"b", `{"addr":"::ffff:203.0.113.7","time":"2026-11-25T07:00:00+01:00","line":""}`},
		{"b", `{"addr":"::ffff:198.51.100.53","time":"2026-11-25T07:00:00Z","line":"x"}`},
		{"b", `{"addr":"2001:db8::1","time":"2999-01-01T00:00:00Z","line":"x` + long + `"}`},
		{"self", `{"addr":"203.0.113.7","time":"2026-11-25T07:00:00Z"}`},
		{"x" + strings.Repeat("ü", 40), `{"addr":"fe80::1%eth0","time":"2026-11-25T07:00:00Z"}`},
		{"b", `{"addr":"127.0.0.1","time":"0001-01-01T00:00:00Z"}`}, {"", `nope`}, {"b", `{"addr":1}`},
	} {
		f.Add(s.node, []byte(s.data))
	}
	fl := testFleet(nil)
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, node string, data []byte) {
		e, v := fl.decodeFailure(map[string][]string{headerNode: {node}}, data, now)
		if v != nats.Deliver {
			return
		}
		rec := e.Recognised
		if rec == nil || !rec.Fleet {
			t.Fatalf("delivered %+v without a fleet failure", e)
		}
		a := rec.Addr
		if !state.HostAddress(a) || a.Is4In6() || a == natsServer || e.Time.IsZero() || e.Time.After(now) {
			t.Fatalf("delivered %+v", e)
		}
		if !utf8.ValidString(e.Message) || !utf8.ValidString(e.Host) || len(e.Message) > testBounds.LineBytes || len(e.Host) > 64 {
			t.Fatalf("text %q from %q", e.Message, e.Host)
		}
	})
}

// FuzzFleetBan decodes any bytes as a ban message on the fleet's bans
// stream, as followBans does, and adopts it into a pipeline. An adopted
// ban is of a host address, never covers the NATS server, and carries
// bounded valid UTF-8 text.
func FuzzFleetBan(f *testing.F) {
	long := strings.Repeat("é", 300)
	for _, s := range []string{
		`{"type":"ban","pipeline":"sshd","addr":"203.0.113.7","prefix":32,"time":"2026-11-25T07:00:00Z","until":"2026-11-25T09:00:00Z","bantime_s":7200,"failures":5,"ban_count":1,"reason":"5 failures","origin":"b","lines":["l1","l2"]}`,
		`{"type":"ban","pipeline":"sshd","addr":"2001:db8::","prefix":64,"time":"2026-11-25T07:00:00Z","until":null,"bantime_s":-1,"origin":"self","reason":"r"}`,
		`{"type":"ban","pipeline":"sshd","addr":"198.51.100.0","prefix":24,"time":"2026-11-25T07:00:00Z","until":null,"origin":"b"}`,
		`{"type":"ban","pipeline":"sshd","addr":"203.0.113.8","prefix":32,"time":"2026-11-25T07:00:00Z","until":null,"origin":"x` + long + `","reason":"y` + long + `","lines":["z` + long + long + long + long + `"]}`,
		`{"type":"unban","pipeline":"sshd","addr":"203.0.113.7","prefix":32,"time":"2026-11-25T07:30:00Z","origin":"b"}`,
		`{"type":"ban","addr":"0.0.0.0","prefix":0,"time":"2026-11-25T07:00:00Z","until":null}`,
		`{"type":"ban","addr":"224.0.0.1","prefix":-1}`, `{"type":"ban","addr":"fe80::1%eth0","prefix":128}`, `{}`, `[`,
	} {
		f.Add([]byte(s))
	}
	fl := testFleet(nil)
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev enfnats.Event
		if json.Unmarshal(data, &ev) != nil {
			return // skipped, as followBans does
		}
		ev.Received = ev.Time
		var applied []state.Decision
		fl.adoptOne(TrackerBans(testTracker(), now, func(d state.Decision) { applied = append(applied, d) }), ev)
		for _, dec := range applied {
			if dec.Kind != state.Ban {
				continue
			}
			p := dec.Prefix
			if !state.HostAddress(p.Addr()) || p != p.Masked() || p.Contains(natsServer) {
				t.Fatalf("adopted a ban of %v", p)
			}
			text := append([]string{dec.Reason, dec.Origin}, dec.Lines...)
			for _, s := range text {
				if !utf8.ValidString(s) {
					t.Fatalf("text %q", s)
				}
			}
			if len(dec.Lines) > testBounds.Lines || len(dec.Origin) > 64 {
				t.Fatalf("%d lines, origin %q", len(dec.Lines), dec.Origin)
			}
		}
	})
}
