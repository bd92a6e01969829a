package store

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
)

func ban(pipeline, prefix string, count int, at time.Time, dur time.Duration) state.Decision {
	d := state.Decision{Kind: state.Ban, Pipeline: pipeline, Prefix: netip.MustParsePrefix(prefix), Time: at, BanCount: count}
	if dur != state.PermanentBan {
		d.Until = at.Add(dur)
	}
	return d
}

func TestHistoryCount(t *testing.T) {
	s := openTestStore(t)
	for _, d := range []state.Decision{
		ban("sshd", "2001:db8:1::/64", 3, t0, time.Hour),
		ban("web", "2001:db8:1::7/128", 5, t0, time.Hour),
		ban("web", "2001:db8:2::/48", 2, t0, time.Hour),
		ban("sshd", "198.51.100.7/32", 1, t0, time.Hour),
		ban("mail", "198.51.100.0/24", 4, t0, time.Hour),
		ban("sshd", "::ffff:203.0.113.9/128", 6, t0, time.Hour), // stored as 203.0.113.9/32
		ban("sshd", "::/64", 7, t0, time.Hour),
	} {
		if err := s.SaveBan(d); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		pipeline string
		prefix   string
		all      bool
		want     int
	}{
		{"sshd", "2001:db8:1::/64", false, 3},
		{"sshd", "2001:db8:1::/64", true, 5},    // web's /128 lies inside it
		{"sshd", "2001:db8:1::7/128", false, 3}, // inside sshd's /64
		{"web", "2001:db8:1::7/128", false, 5},  // web's own record
		{"web", "2001:db8:1::8/128", false, 0},  // web has no record covering it
		{"web", "2001:db8:1::8/128", true, 3},   // sshd's /64 covers it
		{"web", "2001:db8:2:3::/64", false, 2},  // inside web's /48
		{"web", "2001:db8::/32", true, 5},       // holds every IPv6 record above except ::/64
		{"sshd", "198.51.100.7/32", false, 1},   //
		{"sshd", "198.51.100.7/32", true, 4},    // mail's /24
		{"mail", "198.51.100.9/32", false, 4},   //
		{"sshd", "198.51.101.7/32", true, 0},    // outside the /24
		{"sshd", "203.0.113.9/32", false, 6},    // stored unmapped
		{"sshd", "::ffff:203.0.113.9/128", false, 6},
		{"sshd", "::1/128", false, 7},  // IPv6 ::/64 holds ::1 ...
		{"sshd", "0.0.0.0/0", true, 6}, // ... but no IPv4 record: its highest is 203.0.113.9's 6
		{"sshd", "::/64", false, 7},    // and IPv4 records are not inside ::/64
		{"nobody", "2001:db8:1::/64", false, 0},
	}
	// As written, after a restart (the lengths of the history read from
	// the file) and with the lengths unknown (every one sought).
	for _, when := range []string{"as written", "reopened", "lengths unknown"} {
		switch when {
		case "reopened":
			s = reopenStore(t, s)
		case "lengths unknown":
			s = reopenStore(t, s)
			s.lengths.known.Store(false)
		}
		for _, tc := range cases {
			got, err := s.Count(tc.pipeline, netip.MustParsePrefix(tc.prefix), tc.all)
			if err != nil || got != tc.want {
				t.Errorf("%s: Count(%s, %s, %v) = %d, %v; want %d", when, tc.pipeline, tc.prefix, tc.all, got, err, tc.want)
			}
		}
	}
}

// reopenStore closes s and opens its file again.
func reopenStore(t *testing.T, s *Store) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Dir(s.path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Recording keeps the highest count and the newest ban: a renewal or a
// replay does not count twice.
func TestHistoryRecord(t *testing.T) {
	s := openTestStore(t)
	p := netip.MustParsePrefix("192.0.2.1/32")
	steps := []struct {
		d         state.Decision
		wantCount int
		wantLast  time.Time
		wantFor   time.Duration
	}{
		{ban("sshd", "192.0.2.1/32", 1, t0, time.Hour), 1, t0, time.Hour},
		{ban("sshd", "192.0.2.1/32", 1, t0.Add(time.Minute), 2*time.Hour), 1, t0.Add(time.Minute), 2 * time.Hour}, // renewal
		{ban("sshd", "192.0.2.1/32", 2, t0.Add(3*time.Hour), 2*time.Hour), 2, t0.Add(3 * time.Hour), 2 * time.Hour},
		{ban("sshd", "192.0.2.1/32", 1, t0, time.Hour), 2, t0.Add(3 * time.Hour), 2 * time.Hour}, // an old replay
		{ban("sshd", "192.0.2.1/32", 0, t0.Add(4*time.Hour), state.PermanentBan), 2, t0.Add(4 * time.Hour), state.PermanentBan},
	}
	for i, st := range steps {
		if err := s.RecordBan(st.d); err != nil {
			t.Fatal(err)
		}
		h, err := s.BanHistory("sshd")
		if err != nil || len(h) != 1 {
			t.Fatalf("step %d: history %+v %v", i, h, err)
		}
		if h[0].Prefix != p || h[0].Count != st.wantCount || !h[0].Last.Equal(st.wantLast) || h[0].BanTime != st.wantFor {
			t.Errorf("step %d: %+v, want count %d last %v for %v", i, h[0], st.wantCount, st.wantLast, st.wantFor)
		}
	}
}

// fail2ban's purge: a record goes once its last ban is older than
// dbpurgeage and ended three times its duration before that too.
func TestHistoryPurge(t *testing.T) {
	s := openTestStore(t)
	day := 24 * time.Hour
	now := t0.Add(30 * day)
	for _, d := range []state.Decision{
		ban("sshd", "192.0.2.1/32", 1, now.Add(-2*day), time.Hour),           // old: purged
		ban("sshd", "192.0.2.2/32", 1, now.Add(-12*time.Hour), time.Hour),    // recent: kept
		ban("sshd", "192.0.2.3/32", 1, now.Add(-2*day), day),                 // long ban: kept until 1d + 3d
		ban("sshd", "192.0.2.4/32", 1, now.Add(-20*day), state.PermanentBan), // permanent: kept
		ban("web", "192.0.2.1/32", 1, now.Add(-2*day), time.Hour),            // web keeps a week
	} {
		if err := s.SaveBan(d); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PurgeHistoryFunc(func(pipeline string) time.Time {
		if pipeline == "web" {
			return now.Add(-7 * day)
		}
		return now.Add(-day)
	})
	if err != nil || n != 1 {
		t.Fatalf("purged %d, %v; want 1", n, err)
	}
	var left []string
	h, _ := s.BanHistory("")
	for _, r := range h {
		left = append(left, r.Pipeline+" "+r.Prefix.String())
	}
	slices.Sort(left)
	want := []string{"sshd 192.0.2.2/32", "sshd 192.0.2.3/32", "sshd 192.0.2.4/32", "web 192.0.2.1/32"}
	if !slices.Equal(left, want) {
		t.Errorf("left %q, want %q", left, want)
	}
	// Four days after its ban, the long ban's history goes too.
	if n, err := s.PurgeHistory(now.Add(3 * day)); err != nil || n != 3 {
		t.Errorf("second purge: %d %v, want 3 (all but the permanent one)", n, err)
	}
	if h, _ := s.BanHistory(""); len(h) != 1 || h[0].BanTime != state.PermanentBan {
		t.Errorf("left %+v", h)
	}
}

// A repeat offender across restarts: tracker and store together, as the
// daemon runs them (SaveBan on ban, a new tracker and a reopened store
// after a restart).
func TestHistoryIncrementsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	policy := func(name string, overall bool) state.Policy {
		return state.Policy{Pipeline: name, MaxRetry: 2, FindTime: time.Minute, BanTime: time.Hour, MaxTracked: 10, IPv6Prefix: 64,
			Increment: &state.Increment{Factor: 1, MaxTime: 6 * time.Hour, OverallJails: overall}}
	}
	attack := func(tr *state.Tracker, s *Store, addr string, at time.Time) state.Decision {
		t.Helper()
		tr.Fail(failure(addr, at), at)
		c, full := tr.Fail(failure(addr, at), at)
		if !full {
			t.Fatalf("%s not banned", addr)
		}
		d, _ := tr.Decide(c, tr.Gate().Admit(gate.Single(c.Addr)))
		if err := s.SaveBan(d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	at := t0
	var got []string
	for round := range 4 {
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		sshd, web := state.NewTracker(policy("sshd", false)), state.NewTracker(policy("web", true))
		sshd.SetHistory(s)
		web.SetHistory(s)
		// Each round: sshd bans the /64 (a new address each time), then
		// web, counting the bans of every pipeline, bans the /64 again.
		d := attack(sshd, s, "2001:db8:9::"+string(rune('1'+round)), at)
		got = append(got, d.Prefix.String()+" #"+strconv.Itoa(d.BanCount)+" "+d.Until.Sub(d.Time).String())
		d = attack(web, s, "2001:db8:9::abc", at)
		got = append(got, d.Prefix.String()+" #"+strconv.Itoa(d.BanCount)+" "+d.Until.Sub(d.Time).String())
		s.Close()
		at = at.Add(12 * time.Hour)
	}
	want := []string{
		"2001:db8:9::/64 #1 1h0m0s", "2001:db8:9::/64 #2 2h0m0s",
		"2001:db8:9::/64 #2 2h0m0s", "2001:db8:9::/64 #3 4h0m0s",
		"2001:db8:9::/64 #3 4h0m0s", "2001:db8:9::/64 #4 6h0m0s",
		"2001:db8:9::/64 #4 6h0m0s", "2001:db8:9::/64 #5 6h0m0s",
	}
	if !slices.Equal(got, want) {
		t.Errorf("bans:\n got %q\nwant %q", got, want)
	}
}

// Count's filter of single addresses never hides a record: its answers
// are those of the full lookup (a Store without the filter), for addresses
// recorded by a commit, by RecordBan, before a reopen, and inside a prefix
// recorded later; an address never recorded costs no lookup.
func TestCountFilterAgrees(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	addr := func(i int) netip.Prefix {
		if i%2 == 0 {
			return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), 32)
		}
		return netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}), 128)
	}
	c := &Changes{}
	for i := range 200 {
		c.Decisions = append(c.Decisions, ban("sshd", addr(i).String(), 1+i%3, t0, time.Hour))
	}
	if err := s.Commit("sshd", c); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordBan(ban("web", addr(1000).String(), 4, t0, time.Hour)); err != nil {
		t.Fatal(err)
	}
	inPrefix := false // 198.51.4.0/24 is recorded
	check := func(s *Store, when string) {
		t.Helper()
		full := &Store{db: s.db, path: s.path} // lengths unknown: every lookup made
		for i := range 1200 {
			for _, all := range []bool{false, true} {
				got, err := s.Count("sshd", addr(i), all)
				want, werr := full.Count("sshd", addr(i), all)
				if err != nil || werr != nil || got != want {
					t.Fatalf("%s: %s (all %v): %d %v, the full lookup %d %v", when, addr(i), all, got, err, want, werr)
				}
				if recorded := i < 200 || (i == 1000 && all) || (inPrefix && i%2 == 0 && i>>8 == 4); recorded != (got > 0) {
					t.Fatalf("%s: %s (all %v): count %d", when, addr(i), all, got)
				}
			}
		}
	}
	check(s, "after the commits")
	s = reopenStore(t, s)
	check(s, "after a reopen")
	spared := 0
	for i := 200; i < 1200; i++ {
		a := addr(i)
		lowest := 0
		if a.Addr().Is4() {
			lowest = 96
		}
		if !s.lengths.mayHoldAddress(a.Addr().As16(), lowest) {
			spared++
		}
	}
	if spared < 990 {
		t.Errorf("the filter spares the lookup of only %d of 1000 addresses never recorded", spared)
	}
	if err := s.RecordBan(ban("sshd", "198.51.4.0/24", 9, t0, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count("sshd", netip.MustParsePrefix("198.51.4.7/32"), false); n != 9 || err != nil {
		t.Errorf("an address inside a recorded prefix: %d %v", n, err)
	}
	inPrefix = true
	check(s, "with a prefix")
}

// HistoryOf finds an address's own record and its prefixes', narrowest
// first, of one pipeline only.
func TestHistoryOf(t *testing.T) {
	s := openTestStore(t)
	at := time.Unix(1700000000, 0)
	for _, d := range []state.Decision{
		{Pipeline: "p", Prefix: netip.MustParsePrefix("2001:db8:1:2::/64"), Time: at, Until: at.Add(time.Hour), BanCount: 2},
		{Pipeline: "p", Prefix: netip.MustParsePrefix("2001:db8:1:2::5/128"), Time: at, BanCount: 1},
		{Pipeline: "q", Prefix: netip.MustParsePrefix("2001:db8:1:2::5/128"), Time: at, Until: at.Add(time.Hour), BanCount: 1},
		{Pipeline: "p", Prefix: netip.MustParsePrefix("2001:db8:1:3::/64"), Time: at, Until: at.Add(time.Hour), BanCount: 1},
		{Pipeline: "p", Prefix: netip.MustParsePrefix("192.0.2.5/32"), Time: at, Until: at.Add(time.Hour), BanCount: 3},
	} {
		if err := s.RecordBan(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		addr string
		want []string
	}{
		{"2001:db8:1:2::5", []string{"2001:db8:1:2::5/128 1 permanent", "2001:db8:1:2::/64 2 1h0m0s"}},
		{"2001:db8:1:2::6", []string{"2001:db8:1:2::/64 2 1h0m0s"}},
		{"::ffff:192.0.2.5", []string{"192.0.2.5/32 3 1h0m0s"}},
		{"192.0.2.6", nil},
	} {
		recs, err := s.HistoryOf("p", netip.MustParseAddr(tc.addr))
		var got []string
		for _, r := range recs {
			bt := "permanent"
			if r.BanTime != state.PermanentBan {
				bt = r.BanTime.String()
			}
			got = append(got, fmt.Sprintf("%s %d %s", r.Prefix, r.Count, bt))
			if r.Pipeline != "p" || !r.Last.Equal(at) {
				t.Errorf("%s: record %+v", tc.addr, r)
			}
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, %v; want %q", tc.addr, got, err, tc.want)
		}
	}
}
