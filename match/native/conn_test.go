package native

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/matchtest"
)

// sshdLike is a filter in the shape of sshd's: the connection id is the
// pid in the program's header; client text (user names) is matched
// greedily so the address is the last one the program writes.
var sshdLike = match.Rules{
	Prefregex: `^(?:\S+ )?sshd\[<F-MLFID>\d+</F-MLFID>\]: <F-CONTENT>.+</F-CONTENT>$`,
	Failregex: []string{
		`^<F-NOFAIL>Connection from</F-NOFAIL> <HOST> port \d+$`,
		`^Failed password for (?:invalid user )?<F-USER>.*</F-USER> from <HOST> port \d+$`,
		`^Disconnecting: Too many authentication failures$`,
		`^<F-MLFFORGET><F-MLFGAINED>Accepted password</F-MLFGAINED></F-MLFFORGET> for <F-USER>\S+</F-USER> from <HOST> port \d+$`,
		`^<F-NOFAIL><F-MLFFORGET>Connection closed</F-MLFFORGET></F-NOFAIL> by <HOST> port \d+$`,
		`^PAM: authentication failure for <F-USER>.*</F-USER>$`,
	},
	Ignoreregex: []string{`for monitor from`},
	Location:    time.UTC,
}

// slapdLike tracks slapd's conn=N, written by slapd at the start of the
// message, in the failregexes.
var slapdLike = match.Rules{
	Prefregex: `^\S+ slapd\[\d+\]: <F-CONTENT>.+</F-CONTENT>$`,
	Failregex: []string{
		`^conn=<F-MLFID>\d+</F-MLFID> fd=\d+ <F-NOFAIL>ACCEPT</F-NOFAIL> from IP=<HOST>:\d+ \(IP=\S+\)$`,
		`^conn=<F-MLFID>\d+</F-MLFID> op=\d+ RESULT tag=97 err=49 text=.*$`,
		`^conn=<F-MLFID>\d+</F-MLFID> fd=\d+ <F-NOFAIL><F-MLFFORGET>closed</F-MLFFORGET></F-NOFAIL>`,
	},
	Location: time.UTC,
}

// connStep is a line of a connection case and its outcome.
type connStep struct {
	line  string
	after time.Duration // the line's time after the case's start
	want  match.Outcome
	addr  string // Matched (and NoFail with a known address): the address
	user  string // Matched: the user
	tries int    // Matched: Attempts, when set
}

var connCases = []struct {
	name  string
	rules match.Rules
	steps []connStep
}{
	{"a failure without address takes the connection's", sshdLike, []connStep{
		{line: "h sshd[1]: Connection from 192.0.2.1 port 22", want: match.NoFail, addr: "192.0.2.1"},
		{line: "h sshd[2]: Connection from 192.0.2.2 port 22", want: match.NoFail, addr: "192.0.2.2"},
		// The attempts are fail2ban's: the lines of the connection.
		{line: "h sshd[1]: Disconnecting: Too many authentication failures", want: match.Matched, addr: "192.0.2.1", tries: 2},
		{line: "h sshd[2]: Disconnecting: Too many authentication failures", want: match.Matched, addr: "192.0.2.2"},
	}},
	{"a failure with its own address stays as it was", sshdLike, []connStep{
		{line: "h sshd[3]: Connection from 192.0.2.1 port 22", want: match.NoFail, addr: "192.0.2.1"},
		{line: "h sshd[3]: Failed password for bob from 192.0.2.3 port 22", want: match.Matched, addr: "192.0.2.3", user: "bob"},
		{line: "h sshd[4]: Failed password for bob from 192.0.2.4 port 22", want: match.Matched, addr: "192.0.2.4", user: "bob", tries: 1},
	}},
	{"a failure before the address waits for it", sshdLike, []connStep{
		{line: "h sshd[5]: PAM: authentication failure for carol", want: match.NoFail},
		{line: "h sshd[5]: Connection closed by 192.0.2.5 port 22", want: match.Matched, addr: "192.0.2.5", user: "carol", tries: 2},
		{line: "h sshd[5]: Disconnecting: Too many authentication failures", want: match.NoFail}, // forgotten
	}},
	{"access gained drops the failures waiting", sshdLike, []connStep{
		{line: "h sshd[6]: PAM: authentication failure for dave", want: match.NoFail},
		{line: "h sshd[6]: Accepted password for dave from 192.0.2.6 port 22", want: match.NoFail, addr: "192.0.2.6"},
		{line: "h sshd[6]: Connection closed by 192.0.2.6 port 22", want: match.NoFail, addr: "192.0.2.6"},
	}},
	{"access gained after failures of other users counts", sshdLike, []connStep{
		{line: "h sshd[7]: Failed password for alice from 192.0.2.7 port 22", want: match.Matched, addr: "192.0.2.7", user: "alice"},
		{line: "h sshd[7]: Failed password for bob from 192.0.2.7 port 22", want: match.Matched, addr: "192.0.2.7", user: "bob"},
		{line: "h sshd[7]: Accepted password for bob from 192.0.2.7 port 22", want: match.Matched, addr: "192.0.2.7", user: "bob"},
	}},
	{"a forgotten connection knows no address", sshdLike, []connStep{
		{line: "h sshd[8]: Connection from 192.0.2.8 port 22", want: match.NoFail, addr: "192.0.2.8"},
		{line: "h sshd[8]: Connection closed by 192.0.2.8 port 22", want: match.NoFail, addr: "192.0.2.8"},
		{line: "h sshd[8]: Disconnecting: Too many authentication failures", want: match.NoFail},
	}},
	{"a connection expires ten minutes after its first line", sshdLike, []connStep{
		{line: "h sshd[9]: Connection from 192.0.2.9 port 22", want: match.NoFail, addr: "192.0.2.9"},
		{line: "h sshd[9]: Disconnecting: Too many authentication failures", after: 9 * time.Minute, want: match.Matched, addr: "192.0.2.9"},
		{line: "h sshd[9]: Disconnecting: Too many authentication failures", after: 10 * time.Minute, want: match.NoFail},
	}},
	{"an ignored line leaves the connection alone", sshdLike, []connStep{
		{line: "h sshd[10]: PAM: authentication failure for erin", want: match.NoFail},
		{line: "h sshd[10]: Failed password for monitor from 192.0.2.10 port 22", want: match.Ignored},
		{line: "h sshd[10]: Connection closed by 192.0.2.11 port 22", want: match.Matched, addr: "192.0.2.11", user: "erin"},
	}},
	{"hostile: a user name holding another connection's header", sshdLike, []connStep{
		{line: "h sshd[11]: Connection from 192.0.2.11 port 22", want: match.NoFail, addr: "192.0.2.11"},
		// The user names pid 11 and a decoy address; the pid and the
		// address are the program's.
		{line: "h sshd[12]: Failed password for x sshd[11]: Connection from 203.0.113.9 port 1 from 192.0.2.12 port 22", want: match.Matched, addr: "192.0.2.12", user: "x sshd[11]: Connection from 203.0.113.9 port 1"},
		{line: "h sshd[13]: PAM: authentication failure for [11] from 198.51.100.1 port 2", want: match.NoFail},
		{line: "h sshd[11]: Disconnecting: Too many authentication failures", want: match.Matched, addr: "192.0.2.11"},
		{line: "h sshd[13]: Connection closed by 192.0.2.13 port 22", want: match.Matched, addr: "192.0.2.13", user: "[11] from 198.51.100.1 port 2"},
	}},
	{"a line without the header's id is no connection's", sshdLike, []connStep{
		{line: "sshd[]: Disconnecting: Too many authentication failures", want: match.Miss},
	}},
	{"the id in a failregex: slapd's conn=N", slapdLike, []connStep{
		{line: "h slapd[40]: conn=1000 fd=12 ACCEPT from IP=192.0.2.20:40000 (IP=0.0.0.0:389)", want: match.NoFail, addr: "192.0.2.20"},
		{line: `h slapd[40]: conn=1001 op=0 BIND dn="cn=conn=1000 fd=1 ACCEPT from IP=203.0.113.9:1 (IP=x)" method=128`, want: match.Miss},
		{line: "h slapd[40]: conn=1000 op=1 RESULT tag=97 err=49 text=conn=1001 from 203.0.113.9", want: match.Matched, addr: "192.0.2.20"},
		{line: "h slapd[40]: conn=1000 fd=12 closed", want: match.NoFail, addr: "192.0.2.20"},
		{line: "h slapd[40]: conn=1000 op=2 RESULT tag=97 err=49 text=", want: match.NoFail},
	}},
}

var connStart = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

// TestConnections runs each case's lines through one matcher, in order.
func TestConnections(t *testing.T) {
	for _, tc := range connCases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compile("p", tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			if !m.KeepsState() || match.LineByLine(m) || !m.Splits() {
				t.Fatalf("keeps state %v, line by line %v, splits %v", m.KeepsState(), match.LineByLine(m), m.Splits())
			}
			for i, s := range tc.steps {
				e := ingest.Entry{Message: s.line, Time: connStart.Add(s.after), ReadAt: now}
				f, out := m.Match(&e, now)
				checkStep(t, i, s, f, out)
			}
		})
	}
}

func checkStep(t *testing.T, i int, s connStep, f match.Failure, out match.Outcome) {
	t.Helper()
	if out != s.want {
		t.Fatalf("line %d %q: %v %+v, want %v", i, s.line, out, f, s.want)
	}
	if out != match.Matched && out != match.NoFail {
		return
	}
	if got := addrOf(f); got != s.addr {
		t.Errorf("line %d %q: address %q, want %q", i, s.line, got, s.addr)
	}
	if out != match.Matched {
		return
	}
	if f.User != s.user || f.HasUser != (s.user != "") {
		t.Errorf("line %d: user %q (%v), want %q", i, f.User, f.HasUser, s.user)
	}
	if s.tries > 0 && f.Attempts != s.tries {
		t.Errorf("line %d: %d attempts, want %d", i, f.Attempts, s.tries)
	}
	if f.Line != s.line || !f.Time.Equal(connStart.Add(s.after)) {
		t.Errorf("line %d: line %q time %v", i, f.Line, f.Time)
	}
}

func addrOf(f match.Failure) string {
	if !f.Addr.IsValid() {
		return ""
	}
	return f.Addr.String()
}

// The table is bounded: the oldest connection goes first, counted.
func TestConnTableBounded(t *testing.T) {
	m, err := Compile("p", sshdLike)
	if err != nil {
		t.Fatal(err)
	}
	m.conns = newConnTable(3, connTableTTL)
	at := connStart
	for pid := range 5 {
		e := ingest.Entry{Message: fmt.Sprintf("h sshd[%d]: Connection from 192.0.2.%d port 22", pid, pid+1), Time: at}
		if _, out := m.Match(&e, now); out != match.NoFail {
			t.Fatalf("pid %d: %v", pid, out)
		}
	}
	if m.Connections() != 3 || m.Evicted() != 2 {
		t.Fatalf("%d connections, %d evicted", m.Connections(), m.Evicted())
	}
	for pid := 4; pid >= 0; pid-- {
		want := match.Matched
		if pid < 2 {
			want = match.NoFail // no address: pending, in the place of another
		}
		e := ingest.Entry{Message: fmt.Sprintf("h sshd[%d]: Disconnecting: Too many authentication failures", pid), Time: at}
		if _, out := m.Match(&e, now); out != want {
			t.Errorf("pid %d: %v, want %v", pid, out, want)
		}
	}
	// Expired connections leave room without counting.
	m.conns = newConnTable(2, connTableTTL)
	for pid := range 4 {
		e := ingest.Entry{Message: fmt.Sprintf("h sshd[%d]: Connection from 192.0.2.1 port 22", pid), Time: at.Add(time.Duration(pid) * connTableTTL)}
		m.Match(&e, now)
	}
	if m.Connections() != 1 || m.Evicted() != 0 {
		t.Errorf("%d connections, %d evicted", m.Connections(), m.Evicted())
	}
}

// Split on a match.Stream (prepared and finished in order, scanned by
// several matchers at once), a filter that tracks connections finds what
// one matcher reading every line finds.
func TestConnectionsSplit(t *testing.T) {
	var lines []string
	for _, tc := range connCases {
		if reflect.DeepEqual(tc.rules, sshdLike) {
			for _, s := range tc.steps {
				lines = append(lines, s.line)
			}
		}
	}
	// Interleaved connections, in batches no boundary lines up with.
	for i := range 3000 {
		pid := i % 37
		switch i % 5 {
		case 0:
			lines = append(lines, fmt.Sprintf("h sshd[%d]: Connection from 192.0.2.%d port 22", pid, i%250+1))
		case 1, 2:
			lines = append(lines, fmt.Sprintf("h sshd[%d]: Disconnecting: Too many authentication failures", pid))
		case 3:
			lines = append(lines, fmt.Sprintf("h sshd[%d]: PAM: authentication failure for u%d", pid+40, i))
		default:
			lines = append(lines, fmt.Sprintf("h sshd[%d]: Connection closed by 198.51.100.%d port 22", pid+40-i%2, i%250+1))
		}
	}
	sameSplit(t, sshdLike, lines)
}

func sameSplit(t *testing.T, rules match.Rules, lines []string) {
	t.Helper()
	entries := make([]ingest.Entry, len(lines))
	for i, l := range lines {
		entries[i] = ingest.Entry{Message: l, ReadAt: now}
	}
	for _, apart := range []bool{false, true} {
		one, err := Compile("p", rules)
		if err != nil {
			t.Fatal(err)
		}
		if apart && !match.PreparesApart(one) {
			continue
		}
		owner, _ := Compile("p", rules)
		scanners := []match.Splitter{owner}
		for range 2 {
			m, _ := Compile("p", rules)
			scanners = append(scanners, m)
		}
		var states []match.LineState
		dates := owner.DateHits // Prepare's counts: the owner's
		if apart {
			// Every scanner prepares: Test adds up their counts.
			states = matchtest.StreamedApart(owner, scanners, entries, now, 61)
			dates = func() map[string]uint64 {
				sum := map[string]uint64{}
				for _, m := range scanners {
					for k, v := range m.DateHits() {
						sum[k] += v
					}
				}
				return sum
			}
		} else {
			states = matchtest.Streamed(owner, scanners, entries, now, 61)
		}
		counted := 0
		for i := range entries {
			f, out := one.Match(&entries[i], now)
			if l := &states[i]; l.Outcome != out || !reflect.DeepEqual(l.Failure, f) {
				t.Fatalf("apart %v: line %d %q: split %v %+v, one matcher %v %+v", apart, i, lines[i], l.Outcome, l.Failure, out, f)
			}
			if out == match.Matched {
				counted++
			}
		}
		if counted == 0 {
			t.Fatal("nothing counted")
		}
		if !reflect.DeepEqual(owner.Hits(), one.Hits()) || !reflect.DeepEqual(dates(), one.DateHits()) {
			t.Errorf("apart %v: hits %v dates %v, one matcher %v %v", apart, owner.Hits(), dates(), one.Hits(), one.DateHits())
		}
	}
}

// A filter tracking connections prepares apart (its Prepare, the date,
// keeps no state): Test reads it in ranges on every worker and finishes
// in order; one keeping the last date or reading several lines does not.
func TestPreparesApart(t *testing.T) {
	for _, c := range []struct {
		name  string
		rules match.Rules
		want  bool
	}{
		{"connections", sshdLike, true},
		{"last date", lastDateRules(""), false},
		{"connections and last date", func() match.Rules { r := sshdLike; r.LastDate = true; return r }(), false},
		{"several lines", match.Rules{Failregex: []string{`^first\nsecond from <HOST>$`}, MaxLines: 3}, false},
	} {
		m, err := Compile("p", c.rules)
		if err != nil {
			t.Fatal(err)
		}
		if got := match.PreparesApart(m); got != c.want {
			t.Errorf("%s: PreparesApart %v, want %v", c.name, got, c.want)
		}
	}
}

// match.Test finds the same with several workers as with one for a filter
// that tracks connections (split), and for one that reads several lines
// (one goroutine).
func TestReportSameOnWorkersStateful(t *testing.T) {
	var lines []string
	for i := range 5000 {
		lines = append(lines, fmt.Sprintf("Nov 25 07:%02d:%02d h sshd[%d]: Connection from 192.0.2.%d port 22", i/60%60, i%60, i%41, i%200+1))
		lines = append(lines, fmt.Sprintf("Nov 25 07:%02d:%02d h sshd[%d]: Disconnecting: Too many authentication failures", i/60%60, i%60, (i*7)%41))
		if i%3 == 0 {
			lines = append(lines, fmt.Sprintf("first %d", i), fmt.Sprintf("second from 192.0.2.%d", i%200+1))
		}
	}
	text := strings.Join(lines, "\n") + "\n"
	multi := match.Rules{Failregex: []string{`^first (?P<n>\d+)\nsecond from <HOST>$`}, MaxLines: 3, Location: time.UTC}
	for _, rules := range []match.Rules{sshdLike, multi} {
		sameOnWorkers(t, rules, text)
	}
}

// sameOnWorkers checks that match.Test reports the same on text with 3
// workers as with one, failures and their dates included, reading a pipe
// (one reader) or a regular file (in ranges, for a filter preparing
// apart: the text spans several).
func sameOnWorkers(t *testing.T, rules match.Rules, text string) {
	t.Helper()
	build := func() (match.Matcher, error) { return Compile("p", rules) }
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var reps []match.Report
	for _, file := range []bool{false, true} {
		for _, workers := range []int{1, 3} {
			var r io.Reader = strings.NewReader(text)
			if file {
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				r = f
			}
			rep, err := match.Test(build, r, now, match.TestOptions{KeepFailures: true}, workers)
			if err != nil {
				t.Fatal(err)
			}
			rep.LinesPerSec = 0
			reps = append(reps, rep)
		}
	}
	if reps[0].Matched == 0 {
		t.Fatalf("nothing matched")
	}
	for i, rep := range reps[1:] {
		if !reflect.DeepEqual(reps[0], rep) {
			t.Errorf("run %d (file %v, %d workers): %d matched, with one worker reading a pipe %d (or other failures, or dates)", i+1, i >= 1, []int{3, 1, 3}[i], rep.Matched, reps[0].Matched)
		}
	}
}
