package nats

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	ingestnats "github.com/logjail/logjail/ingest/nats"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/store"
)

const waitLimit = 20 * time.Second

// startServer runs an in-process nats-server with JetStream in storeDir on
// 127.0.0.1 (port 0: a free one).
func startServer(t testing.TB, port int, storeDir string) *server.Server {
	t.Helper()
	return testkit.NATS(t, &server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: storeDir})
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func banDecision(i int, now time.Time) state.Decision {
	addr := netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)})
	return state.Decision{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.PrefixFrom(addr, 32), Time: now, Until: now.Add(time.Hour), Failures: 5, BanCount: 1, Reason: "5 failures within 10m", Lines: []string{"sshd[1]: Failed password for root from " + addr.String()}}
}

// runPublisher runs pub until the test ends.
func runPublisher(t *testing.T, pub *Publisher) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// stageAndCommit does what a pipeline does: the enforcer stages, the
// commit writes, Committed wakes the publisher.
func stageAndCommit(t *testing.T, db *store.Store, ev *BanEvents, ds ...state.Decision) {
	t.Helper()
	for _, d := range ds {
		if err := ev.Ban(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Commit("sshd", &store.Changes{Outbox: ev.TakeOutbox()}); err != nil {
		t.Fatal(err)
	}
	ev.Committed()
}

func streamMessages(t *testing.T, url, stream string) []Event {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	var out []Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		var e Event
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Fatalf("event %d: %v", seq, err)
		}
		out = append(out, e)
	}
	return out
}

func TestBanEventsJetStreamSurvivesServerOutage(t *testing.T) {
	storeDir := t.TempDir()
	srv := startServer(t, 0, storeDir)
	port := srv.Addr().(*net.TCPAddr).Port
	url := testkit.NATSURL(srv)
	store := openStore(t)
	pub, err := NewPublisher(PublisherConfig{
		Conn:      ingestnats.Config{URL: url},
		Sink:      "events/sshd",
		JetStream: true,
		Streams:   []StreamSpec{{Name: "LOGJAIL_BANS", Subjects: []string{"logjail.bans.>"}, MaxAge: 2 * time.Hour}},
	}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	runPublisher(t, pub)
	ev := NewBanEvents(pub, "logjail.bans.sshd", "host-a")

	now := time.Now().Truncate(time.Second)
	const burst = 300
	for i := range burst / 3 {
		stageAndCommit(t, store, ev, banDecision(i, now))
	}
	// The server goes away in the middle of the burst; bans go on.
	srv.Shutdown()
	srv.WaitForShutdown()
	for i := burst / 3; i < 2*burst/3; i++ {
		stageAndCommit(t, store, ev, banDecision(i, now))
	}
	waitPublisher(t, pub, "the publisher to see the outage", func(s Stats) bool { return s.State != "connected" })
	if pub.Stats().Pending == 0 {
		t.Fatal("nothing kept in the outbox while NATS was down")
	}
	srv = startServer(t, port, storeDir)
	for i := 2 * burst / 3; i < burst; i++ {
		stageAndCommit(t, store, ev, banDecision(i, now))
	}
	waitPublisher(t, pub, "the outbox to drain", func(s Stats) bool { return s.Pending == 0 })

	events := streamMessages(t, url, "LOGJAIL_BANS")
	seen := map[string]int{}
	for _, e := range events {
		seen[e.Addr]++
	}
	if len(seen) != burst {
		t.Fatalf("stream holds %d distinct bans, want %d", len(seen), burst)
	}
	for a, n := range seen {
		if n != 1 {
			t.Errorf("%s published %d times", a, n)
		}
	}
	e := events[0]
	if e.Type != "ban" || e.Pipeline != "sshd" || e.Prefix != 32 || e.Origin != "host-a" || e.BantimeS != 3600 || e.Until == nil || !e.Until.Equal(now.Add(time.Hour)) || e.Failures != 5 || len(e.Lines) != 1 {
		t.Errorf("event = %+v", e)
	}
}

// corePublisher is a publisher of sink events/sshd to a fresh server's
// core subjects, with its store.
func corePublisher(t *testing.T) (pub *Publisher, url string, db *store.Store) {
	t.Helper()
	url = testkit.NATSURL(startServer(t, 0, t.TempDir()))
	db = openStore(t)
	pub, err := NewPublisher(PublisherConfig{Conn: ingestnats.Config{URL: url}, Sink: "events/sshd"}, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, url, db
}

// waitPublisher waits until pub's counters satisfy ok, and fails showing
// them.
func waitPublisher(t *testing.T, pub *Publisher, what string, ok func(Stats) bool) {
	t.Helper()
	testkit.WaitFor(t, waitLimit, func() error {
		s := pub.Stats()
		return testkit.Check(ok(s), "still waiting for %s: publisher stats %+v", what, s)
	})
}

func TestBanEventsCoreSubject(t *testing.T) {
	pub, url, db := corePublisher(t)
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got := make(chan *natsgo.Msg, 10)
	if _, err := nc.ChanSubscribe("logjail.bans.>", got); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	runPublisher(t, pub)
	ev := NewBanEvents(pub, "logjail.bans.sshd", "host-a")
	now := time.Now()
	perm := banDecision(1, now)
	perm.Until = time.Time{}
	stageAndCommit(t, db, ev, perm)
	unban := perm
	unban.Kind, unban.Reason = state.Unban, "manual"
	if err := ev.Unban(context.Background(), unban); err != nil {
		t.Fatal(err)
	}
	if err := db.Commit("sshd", &store.Changes{Outbox: ev.TakeOutbox()}); err != nil {
		t.Fatal(err)
	}
	ev.Committed()

	for i, want := range []struct {
		typ     string
		bantime int64
	}{{"ban", -1}, {"unban", 0}} {
		select {
		case m := <-got:
			var e map[string]any
			if err := json.Unmarshal(m.Data, &e); err != nil {
				t.Fatal(err)
			}
			if e["type"] != want.typ || e["until"] != nil || e["bantime_s"] != float64(want.bantime) || e["addr"] != "203.0.0.1" {
				t.Errorf("message %d = %s", i, m.Data)
			}
			if m.Header.Get(jetstream.MsgIDHeader) == "" || m.Header.Get(HeaderOrigin) != "host-a" {
				t.Errorf("message %d headers = %v", i, m.Header)
			}
		case <-time.After(waitLimit):
			t.Fatalf("message %d not received", i)
		}
	}
	waitPublisher(t, pub, "an empty outbox", func(s Stats) bool { return s.Pending == 0 })
}

// A stream that keeps messages for less than the longest ban is given the
// retention the bans need.
func TestEnsureStreamRaisesMaxAge(t *testing.T) {
	srv := startServer(t, 0, t.TempDir())
	url := testkit.NATSURL(srv)
	nc, _ := natsgo.Connect(url)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BANS", Subjects: []string{"logjail.bans.>"}, MaxAge: time.Minute}); err != nil {
		t.Fatal(err)
	}
	store := openStore(t)
	pub, err := NewPublisher(PublisherConfig{Conn: ingestnats.Config{URL: url}, Sink: "s", JetStream: true, Streams: []StreamSpec{{Name: "BANS", Subjects: []string{"logjail.bans.>"}, MaxAge: 24 * time.Hour}}}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.EnsureStreams(ctx, js); err != nil {
		t.Fatal(err)
	}
	s, _ := js.Stream(ctx, "BANS")
	if got := s.CachedInfo().Config.MaxAge; got != 24*time.Hour {
		t.Fatalf("max age = %s", got)
	}
}

// A reload that lengthens the bans gives the stream the longer retention
// without a restart.
func TestSetStreamsRaisesMaxAge(t *testing.T) {
	srv := startServer(t, 0, t.TempDir())
	url := testkit.NATSURL(srv)
	store := openStore(t)
	spec := func(age time.Duration) []StreamSpec {
		return []StreamSpec{{Name: "BANS", Subjects: []string{"logjail.bans.>"}, MaxAge: age}}
	}
	pub, err := NewPublisher(PublisherConfig{Conn: ingestnats.Config{URL: url}, Sink: "s", JetStream: true, Streams: spec(time.Hour)}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	runPublisher(t, pub)
	nc, _ := natsgo.Connect(url)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitMaxAge := func(want time.Duration) {
		t.Helper()
		testkit.WaitFor(t, waitLimit, func() error {
			s, err := js.Stream(context.Background(), "BANS")
			if err != nil {
				return fmt.Errorf("stream BANS: %w", err)
			}
			got := s.CachedInfo().Config.MaxAge
			return testkit.Check(got == want, "stream BANS keeps %v, want %v", got, want)
		})
	}
	waitMaxAge(time.Hour)
	pub.SetStreams(spec(48 * time.Hour))
	waitMaxAge(48 * time.Hour)
}

// Publishing goes on while a stream setup waits for an answer, as it does
// while a cluster elects a new stream leader: the records are stored
// meanwhile. Here the wait is a permission taken away after the first
// setup (the lookup is then never answered); a reload asks for a setup.
func TestPublishingGoesOnWhileStreamSetupWaits(t *testing.T) {
	defer func(d time.Duration) { ensureTimeout = d }(ensureTimeout)
	ensureTimeout = 10 * time.Minute // longer than the test waits
	user := func(deny ...string) []*server.User {
		u := &server.User{Username: "logjail", Password: "secret"}
		if len(deny) > 0 {
			u.Permissions = &server.Permissions{Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: deny}}
		}
		return []*server.User{u, {Username: "admin", Password: "admin"}}
	}
	opts := &server.Options{Host: "127.0.0.1", JetStream: true, StoreDir: t.TempDir(), Users: user()}
	srv := testkit.NATS(t, opts)
	url := testkit.NATSURL(srv)
	store := openStore(t)
	spec := func(age time.Duration) []StreamSpec {
		return []StreamSpec{{Name: "BANS", Subjects: []string{"logjail.bans.>"}, MaxAge: age}}
	}
	pub, err := NewPublisher(PublisherConfig{Conn: ingestnats.Config{URL: url, User: "logjail", Password: "secret"}, Sink: "events/sshd", JetStream: true, Streams: spec(time.Hour)}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	runPublisher(t, pub)
	ev := NewBanEvents(pub, "logjail.bans.sshd", "host-a")
	now := time.Now().Truncate(time.Second)
	stageAndCommit(t, store, ev, banDecision(1, now))
	waitPublisher(t, pub, "the first ban stored", func(s Stats) bool { return s.Sent == 1 })

	reload := *opts
	reload.Users = user("$JS.API.STREAM.INFO.>")
	if err := srv.ReloadOptions(&reload); err != nil {
		t.Fatal(err)
	}
	pub.SetStreams(spec(2 * time.Hour)) // a setup that waits
	for i := 2; i <= 10; i++ {
		stageAndCommit(t, store, ev, banDecision(i, now))
	}
	waitPublisher(t, pub, "bans stored while the setup waits", func(s Stats) bool { return s.Sent == 10 && s.Pending == 0 })
	if n := len(streamMessages(t, strings.Replace(url, "nats://", "nats://admin:admin@", 1), "BANS")); n != 10 {
		t.Fatalf("stream holds %d bans, want 10", n)
	}
}

// The lifecycle: Start runs the publisher and announces none of the active
// bans; what Apply stages and the pipeline commits is sent; after Stop
// nothing is sent and committed events wait in the outbox.
func TestBanEventsLifecycle(t *testing.T) {
	pub, _, db := corePublisher(t)
	ev := NewBanEvents(pub, "logjail.bans.sshd", "host-a")
	ctx, now := context.Background(), time.Now()
	if err := ev.Start(ctx, []state.Decision{banDecision(1, now)}, now); err != nil {
		t.Fatal(err)
	}
	defer ev.Stop()
	if out := ev.TakeOutbox(); len(out) != 0 {
		t.Fatalf("start staged %d events", len(out))
	}
	commit := func(ds ...state.Decision) {
		t.Helper()
		if err := ev.Apply(ctx, ds); err != nil {
			t.Fatal(err)
		}
		if err := db.Commit("sshd", &store.Changes{Outbox: ev.TakeOutbox()}); err != nil {
			t.Fatal(err)
		}
		ev.Committed()
	}
	unban := banDecision(2, now)
	unban.Kind = state.Unban
	commit(banDecision(2, now), unban)
	testkit.WaitFor(t, 10*time.Second, func() error {
		return testkit.Check(pub.Stats().Sent == 2, "%d events sent, want 2", pub.Stats().Sent)
	})
	ev.Stop() // returns once the publisher has: nothing can send after it
	commit(banDecision(3, now))
	if st := pub.Stats(); st.Sent != 2 || st.Pending != 1 {
		t.Errorf("after Stop: %+v; want the new event pending", st)
	}
}
