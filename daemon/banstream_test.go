package daemon

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/logjail/logjail/state"
)

// streamBans are bans with every field the JSON shows, and strings
// json.Marshal escapes.
func streamBans(now time.Time) []state.Decision {
	local := time.FixedZone("CET", 3600)
	d := func(pipeline, prefix string, until time.Time, reason, origin string) state.Decision {
		return state.Decision{Kind: state.Ban, Pipeline: pipeline, Prefix: netip.MustParsePrefix(prefix), Time: now.Add(-time.Minute).In(local),
			Until: until, Failures: 5, BanCount: 2, Reason: reason, Origin: origin, Lines: []string{"not shown"}}
	}
	return []state.Decision{
		d("sshd", "203.0.113.7/32", now.Add(90*time.Minute+400*time.Millisecond), "5 failures within 10m", ""),
		d("sshd", "192.0.2.1/32", time.Time{}, "manual", ""),
		d("sshd", "2001:db8::/64", now.Add(time.Second).In(local), "fleet: <b>&\"x\"\\ on host-b", "host-b"),
		d("sshd", "2001:db8::9/128", now.Add(-time.Second), "ünïcode \u2028 \x01 \xff", "nœud"),
		d("web", "198.51.100.0/24", now.Add(time.Hour+time.Nanosecond), "", ""),
	}
}

// TestBanStreamIsJSON: the streamed `status PIPELINE` and `banned`
// documents are, byte for byte, what json.Encoder writes for the documents
// built whole (as they were before they were streamed), a stopped
// pipeline's bans marked.
func TestBanStreamIsJSON(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name  string
		bans  []state.Decision
		state string
	}{
		{"none", nil, stateRunning},
		{"one", streamBans(now)[:1], stateRunning},
		{"every kind", streamBans(now), stateRunning},
		{"stopped", streamBans(now), stateStopped},
		{"many", manyBans(now, 20_000), stateRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := PipelineStatus{Pipeline: "sshd <&>", State: tc.state, Sources: []SourceStatus{{Watching: `file "/var/log/banned":[],"bans":[]`}},
				RefusedByGate: map[string]uint64{"ignoreip": 3}, Actions: ActionStatus{CurrentlyBanned: len(tc.bans), Banned: []string{}, Bans: []Ban{}, BanTime: "1h", Increment: "x2"}}
			want := st
			sorted := append([]state.Decision(nil), tc.bans...)
			state.SortByPrefix(sorted)
			want.Actions.Bans = []Ban{} // never null
			for _, b := range sorted {
				want.Actions.Banned = append(want.Actions.Banned, prefixText(b))
				ban := banOf(b, now)
				ban.PipelineStopped = tc.state == stateStopped
				want.Actions.Bans = append(want.Actions.Bans, ban)
			}
			rec := httptest.NewRecorder()
			newBanWriter(rec).pipelineStatus(st, snapshotOf(t, tc.bans, now), now)
			sameJSON(t, rec.Body.Bytes(), want)

			wantBanned := []Ban{}
			for _, b := range sorted {
				wantBanned = append(wantBanned, banOf(b, now))
			}
			rec = httptest.NewRecorder()
			half := len(tc.bans) / 2
			stopped := tc.state == stateStopped // the second pipeline's
			newBanWriter(rec).banned([]pipelineBans{{active: snapshotOf(t, nil, now)}, {active: snapshotOf(t, tc.bans[:half], now)},
				{active: snapshotOf(t, tc.bans[half:], now), stopped: stopped}}, now)
			if half > 0 {
				// Two pipelines' lists: each sorted on its own.
				first, second := append([]state.Decision(nil), tc.bans[:half]...), append([]state.Decision(nil), tc.bans[half:]...)
				state.SortByPrefix(first)
				state.SortByPrefix(second)
				wantBanned = wantBanned[:0]
				for i, b := range append(first, second...) {
					ban := banOf(b, now)
					ban.PipelineStopped = stopped && i >= len(first)
					wantBanned = append(wantBanned, ban)
				}
			}
			sameJSON(t, rec.Body.Bytes(), wantBanned)
		})
	}
}

// snapshotOf is a snapshot of a tracker holding bans (restored an hour
// before now, so that none has expired).
func snapshotOf(t testing.TB, bans []state.Decision, now time.Time) state.Bans {
	tr := state.NewTracker(state.Policy{Pipeline: "sshd", MaxRetry: 5, FindTime: time.Hour, BanTime: time.Hour, MaxTracked: 10, IPv4Prefix: 24, IPv6Prefix: 64})
	if lifted := tr.Restore(bans, now.Add(-time.Hour)); len(lifted) > 0 {
		t.Fatalf("not restored: %+v", lifted)
	}
	return tr.Snapshot()
}

// sameJSON fails unless got is what json.Encoder writes for want.
func sameJSON(t *testing.T, got []byte, want any) {
	t.Helper()
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		n := 0
		for n < min(len(got), b.Len()) && got[n] == b.Bytes()[n] {
			n++
		}
		t.Fatalf("differ at byte %d of %d/%d:\n got …%.300s\nwant …%.300s", n, len(got), b.Len(), got[max(n-100, 0):], b.Bytes()[max(n-100, 0):])
	}
}

// manyBans are n bans of distinct addresses, in no order.
func manyBans(now time.Time, n int) []state.Decision {
	out := make([]state.Decision, 0, n)
	for i := range n {
		j := uint32(i) * 2654435761 // scattered
		a := netip.AddrFrom4([4]byte{10, byte(j >> 16), byte(j >> 8), byte(j)})
		out = append(out, state.Decision{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.PrefixFrom(a, 32), Time: now, Until: now.Add(time.Duration(i) * time.Millisecond), Failures: 5, BanCount: 1, Reason: "5 failures within 10m"})
	}
	return out
}

// discard is a response writer that keeps nothing.
type discard struct{ httptest.ResponseRecorder }

func (d *discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkPipelineStatusBans measures the answer of `status PIPELINE`
// with 100,000 bans off the runner (sorting, encoding, writing): streamed,
// and built whole and marshalled as before.
func BenchmarkPipelineStatusBans(b *testing.B) {
	now := time.Now()
	bans := manyBans(now, 100_000)
	st := PipelineStatus{Pipeline: "sshd", Actions: ActionStatus{Banned: []string{}}}
	snap := snapshotOf(b, bans, now)
	b.Run("stream", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			newBanWriter(&discard{}).pipelineStatus(st, snap, now)
		}
	})
	b.Run("whole", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			active := append([]state.Decision(nil), bans...)
			state.SortByPrefix(active)
			doc := st
			for _, d := range active {
				doc.Actions.Banned = append(doc.Actions.Banned, prefixText(d))
				doc.Actions.Bans = append(doc.Actions.Bans, banOf(d, now))
			}
			writeJSON(&discard{}, 200, doc)
		}
	})
}
