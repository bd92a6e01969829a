package native

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/matchtest"
)

// FuzzConnections feeds any lines to a filter that tracks connections:
// split across matchers (match.Stream) it finds what one matcher reading
// every line finds, and a failure's address is always one a line of its
// connection (or the line itself) wrote at the address's position.
func FuzzConnections(f *testing.F) {
	for _, tc := range connCases {
		if reflect.DeepEqual(tc.rules, sshdLike) {
			var lines []string
			for _, s := range tc.steps {
				lines = append(lines, s.line)
			}
			f.Add(strings.Join(lines, "\n"))
		}
	}
	f.Add("h sshd[1]: PAM: authentication failure for a\nh sshd[1]: Connection closed by 192.0.2.1 port 1\nh sshd[1]: Accepted password for b from 192.0.2.1 port 1")
	// Compiled once (a compile costs more than a run): each run starts
	// with empty tables.
	var ms [3]*Matcher
	for i := range ms {
		m, err := Compile("p", sshdLike)
		if err != nil {
			f.Fatal(err)
		}
		ms[i] = m
	}
	f.Fuzz(func(t *testing.T, text string) {
		lines := strings.Split(text, "\n")
		if len(lines) > 400 {
			lines = lines[:400]
		}
		// Prepared in order on the owner, and apart on each scanner (as
		// Test and the daemon run a filter tracking connections).
		for _, streamed := range []func(match.Splitter, []match.Splitter, []ingest.Entry, time.Time, int) []match.LineState{
			matchtest.Streamed, matchtest.StreamedApart,
		} {
			for _, m := range ms {
				m.conns = newConnTable(connTableSize, connTableTTL)
			}
			one, owner, other := ms[0], ms[1], ms[2]
			entries := make([]ingest.Entry, len(lines))
			for i, l := range lines {
				entries[i] = ingest.Entry{Message: l, ReadAt: now}
			}
			states := streamed(owner, []match.Splitter{owner, other}, entries, now, 7)
			for i := range entries {
				fl, out := one.Match(&entries[i], now)
				if l := &states[i]; l.Outcome != out || !reflect.DeepEqual(l.Failure, fl) {
					t.Fatalf("line %d %q: split %v %+v, one matcher %v %+v", i, lines[i], l.Outcome, l.Failure, out, fl)
				}
				if out == match.Matched && !strings.Contains(text, fl.ID) {
					t.Fatalf("line %d: address %q written nowhere", i, fl.ID)
				}
			}
		}
	})
}
