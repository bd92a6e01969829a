package nats

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
)

func TestCoreEntries(t *testing.T) {
	srv := startServer(t, 0, "", nil)
	s := newSource(t, Config{URL: srv.ClientURL(), Subject: "logs.sshd"})
	out := make(chan ingest.Entry, 16)
	r := startSubscribed(t, s, out)
	if st := s.Stats(); st.State != ingest.StateReading || st.Reason != "connected" {
		t.Fatalf("state %q (%s)", st.State, st.Reason)
	}

	pub := publisher(t, srv.ClientURL())
	publish(t, pub, "logs.sshd", "Nov 25 07:13:18 host sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2\n")
	publish(t, pub, "logs.sshd", `{"time":"2026-11-25T07:13:18Z","host":"web1","message":"sshd[2]: Invalid user a from 192.0.2.2"}`)
	publish(t, pub, "logs.other", "not for us")
	publish(t, pub, "logs.sshd", `{"broken json`)
	flush(t, pub)

	got := receive(t, out, 3)
	before := time.Now()
	if e := got[0]; e.Message != "Nov 25 07:13:18 host sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2" ||
		!e.Time.IsZero() || e.Host != "" || e.ReadAt.IsZero() || e.ReadAt.After(before) || e.Ack != nil {
		t.Errorf("raw entry %+v", e)
	}
	if e := got[1]; e.Message != "sshd[2]: Invalid user a from 192.0.2.2" || e.Host != "web1" ||
		!e.Time.Equal(time.Date(2026, 11, 25, 7, 13, 18, 0, time.UTC)) || e.Ack != nil {
		t.Errorf("envelope entry %+v", e)
	}
	if e := got[2]; e.Message != `{"broken json` || !e.Time.IsZero() {
		t.Errorf("malformed json entry %+v", e)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := s.Stats()
	if st.Read != 3 || st.Skipped != 0 || st.Dropped != 0 || st.Errors != 0 || st.State != ingest.StateWaiting || st.Reason != "disconnected" {
		t.Fatalf("stats %+v", st)
	}
	if len(out) != 0 {
		t.Fatalf("%d entries after Run returned", len(out))
	}
}

func TestCoreWildcardQueueGroup(t *testing.T) {
	srv := startServer(t, 0, "", nil)
	out := make(chan ingest.Entry, 1024)
	var srcs []*Source
	for range 2 {
		s := newSource(t, Config{URL: srv.ClientURL(), Subject: "logs.*", Queue: "logjail"})
		startSubscribed(t, s, out)
		srcs = append(srcs, s)
	}
	if d := srcs[0].Describe(); d != "nats "+srv.ClientURL()+" logs.* (queue logjail)" {
		t.Errorf("Describe %q", d)
	}
	pub := publisher(t, srv.ClientURL())
	const n = 200
	var want []string
	for i := range n {
		subj := []string{"logs.sshd", "logs.nginx", "logs.postfix"}[i%3]
		msg := fmt.Sprintf("%s line %d", subj, i)
		want = append(want, msg)
		publish(t, pub, subj, msg)
		// Not matched by logs.*:
		publish(t, pub, subj+".deeper", "deeper "+msg)
		publish(t, pub, "other."+subj, "other "+msg)
	}
	publish(t, pub, "logs.end", "end")
	want = append(want, "end")
	flush(t, pub)

	got := receive(t, out, n+1)
	var msgs []string
	for _, e := range got {
		msgs = append(msgs, e.Message)
	}
	slices.Sort(msgs)
	slices.Sort(want)
	if !slices.Equal(msgs, want) {
		t.Fatalf("received a different set of messages (%d)", len(msgs))
	}
	waitReadTogether(t, srcs, n+1)
	a, b := srcs[0].Stats(), srcs[1].Stats()
	if a.Read == 0 || b.Read == 0 {
		t.Fatalf("queue group split %d + %d, want both > 0 and %d in all", a.Read, b.Read, n+1)
	}
	if a.Dropped+b.Dropped != 0 {
		t.Fatalf("drops: %d %d", a.Dropped, b.Dropped)
	}
}

// A full queue: core NATS cannot wait, so messages are dropped and counted.
func TestCoreDropsWhenQueueFull(t *testing.T) {
	s, _, pub := startCore(t, "logs.sshd", 0) // unbuffered, nobody reads
	const n = 500
	for i := range n {
		publish(t, pub, "logs.sshd", fmt.Sprint("line ", i))
	}
	flush(t, pub)
	waitStats(t, s, func(st ingest.Stats) bool { return st.Dropped == n })
	if st := s.Stats(); st.Read != 0 || st.Reason != "connected" {
		t.Fatalf("stats %+v", st)
	}
}

// When the client library's pending queue for the subscription overflows
// (slow consumer), its drops are counted too, and nothing goes unaccounted.
func TestCoreSlowConsumerDropsCounted(t *testing.T) {
	srv := startServer(t, 0, "", nil)
	s := newSource(t, Config{URL: srv.ClientURL(), Subject: "logs.sshd"})
	s.pendingMsgs = 10
	release := make(chan struct{})
	var once sync.Once
	s.inDeliver = func() { once.Do(func() { <-release }) } // the first callback stalls
	out := make(chan ingest.Entry, 1000)
	startSubscribed(t, s, out)
	pub := publisher(t, srv.ClientURL())
	const n = 200
	for i := range n {
		publish(t, pub, "logs.sshd", fmt.Sprint("line ", i))
	}
	flush(t, pub)
	waitStats(t, s, func(st ingest.Stats) bool { return st.Dropped >= n-20 })
	close(release)
	waitStats(t, s, func(st ingest.Stats) bool {
		return st.Read+st.Dropped == n
	})
	st := s.Stats()
	if st.Read == 0 || st.Dropped == 0 || int(st.Read) != len(out) {
		t.Fatalf("stats %+v, %d queued", st, len(out))
	}
}

func TestCoreOversizeSkipped(t *testing.T) {
	s, out, pub := startCore(t, "logs.sshd", 4)
	publish(t, pub, "logs.sshd", strings.Repeat("A", MaxPayload+1))
	publish(t, pub, "logs.sshd", strings.Repeat("B", MaxPayload))
	publish(t, pub, "logs.sshd", "small")
	flush(t, pub)
	got := receive(t, out, 2)
	if len(got[0].Message) != MaxPayload || got[0].Message[0] != 'B' || got[1].Message != "small" {
		t.Fatalf("got %d bytes and %q", len(got[0].Message), got[1].Message)
	}
	waitStats(t, s, func(st ingest.Stats) bool { return st.Skipped == 1 && st.Read == 2 })
}

// stateLog records state changes.
type stateLog struct {
	mu sync.Mutex
	s  []string
}

func (l *stateLog) add(st string) {
	l.mu.Lock()
	l.s = append(l.s, st)
	l.mu.Unlock()
}

func (l *stateLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.s)
}

// containsInOrder reports whether want appears in got as a subsequence.
func containsInOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestCoreServerRestart(t *testing.T) {
	srv := startServer(t, 0, "", nil)
	port := testkit.NATSPort(srv)
	url := srv.ClientURL()
	s := newSource(t, Config{URL: url, Subject: "logs.>"})
	var states stateLog
	s.onState = states.add
	out := make(chan ingest.Entry, 64)
	startSubscribed(t, s, out)
	pub := publisher(t, url)
	publish(t, pub, "logs.a", "before")
	flush(t, pub)
	if e := receive(t, out, 1)[0]; e.Message != "before" {
		t.Fatalf("got %q", e.Message)
	}

	testkit.StopNATS(srv)
	waitStats(t, s, func(st ingest.Stats) bool { return st.Reason != "connected" })
	startServer(t, port, "", nil)
	waitStats(t, s, func(st ingest.Stats) bool { return st.Reason == "connected" })
	if got := states.list(); !containsInOrder(got, []string{"connected", "disconnected", "connected"}) {
		t.Fatalf("state changes %v", got)
	}

	// The library resubscribes after reconnecting; the server learns of it
	// shortly after, so publish until the first message comes through.
	pub2 := publisher(t, url)
	e := publishUntilReceived(t, pub2, out, "logs.b", func(i int) string { return fmt.Sprint("after ", i) })
	if !strings.HasPrefix(e.Message, "after ") {
		t.Fatalf("got %q", e.Message)
	}
	if s.Stats().Errors != 0 {
		t.Fatalf("errors: %+v", s.Stats())
	}
}

// A server that is not there at start does not end Run: it keeps trying
// and starts reading when the server appears.
func TestCoreInitialConnectRetried(t *testing.T) {
	port, url := unusedPort(t)
	s := newSource(t, Config{URL: url, Subject: "logs.sshd"})
	var states stateLog
	s.onState = states.add
	out := make(chan ingest.Entry, 4)
	r := start(t, s, out)
	waitStats(t, s, func(st ingest.Stats) bool {
		return st.State == ingest.StateError && strings.HasPrefix(st.Reason, "reconnecting: ")
	})
	select {
	case <-r.done:
		t.Fatalf("Run returned %v while the server was away", r.err)
	default:
	}
	startServer(t, port, "", nil)
	waitStats(t, s, func(st ingest.Stats) bool { return st.State == ingest.StateReading })
	pub := publisher(t, url)
	if e := publishUntilReceived(t, pub, out, "logs.sshd", func(int) string { return "hello" }); e.Message != "hello" {
		t.Fatalf("got %q", e.Message)
	}
}

func TestCoreAuth(t *testing.T) {
	dir := t.TempDir()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pubKey, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := dir + "/user.nk"
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, 0, "", func(o *server.Options) {
		o.Users = []*server.User{{Username: "bob", Password: "s3cret"}}
		o.Nkeys = []*server.NkeyUser{{Nkey: pubKey}}
	})
	url := srv.ClientURL()
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"user/password", func(c *Config) { c.User, c.Password = "bob", "s3cret" }},
		{"nkey", func(c *Config) { c.NKeyFile = seedFile }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{URL: url, Subject: "logs.sshd"}
			tc.mod(&cfg)
			s := newSource(t, cfg)
			out := make(chan ingest.Entry, 1)
			startSubscribed(t, s, out)
			if strings.Contains(s.Describe(), "s3cret") {
				t.Fatalf("Describe shows the password: %q", s.Describe())
			}
		})
	}

	// Rejected credentials: the client library gives up after the second
	// refusal and Run reports it, for the daemon to log and retry.
	t.Run("rejected", func(t *testing.T) {
		s := newSource(t, Config{URL: url, Subject: "logs.sshd", User: "bob", Password: "wrong"})
		r := start(t, s, make(chan ingest.Entry))
		waitClosed(t, r.done, "Run to fail")
		if r.err == nil || !strings.Contains(r.err.Error(), "uthorization") || strings.Contains(r.err.Error(), "wrong") {
			t.Fatalf("Run: %v", r.err)
		}
	})
}
