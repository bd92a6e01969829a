package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logjail/logjail/internal/testkit"
)

// startNATS runs an in-process nats-server with JetStream on loopback.
func startNATS(t *testing.T) (*server.Server, string) {
	srv := testkit.NATS(t, &server.Options{Host: "127.0.0.1", JetStream: true, StoreDir: t.TempDir()})
	return srv, testkit.NATSURL(srv)
}

// Logs arrive on NATS subjects: raw lines on a core subject, JSON envelopes
// and a Fluent Bit batch through a JetStream durable consumer. A logjail that is down while lines
// are published reads them all when it returns.
func TestNATSPipeline(t *testing.T) {
	t.Parallel()
	srv, url := startNATS(t)
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LOGS", Subjects: []string{"logs.>"}}); err != nil {
		t.Fatal(err)
	}

	s := newSetup(t, strings.ReplaceAll(e2ePipeline("maxretry: 3", `ingest:
  - nats: {url: "URL", subject: "raw.sshd"}
  - nats: {url: "URL", subject: "logs.sshd", jetstream: {stream: LOGS, durable: logjail-sshd}}`, sshdFilter), "URL", url))
	s.warm = func(t testing.TB) {
		nc.Publish("raw.sshd", []byte("Nov 25 07:00:00 h sshd[1]: Server listening on 0.0.0.0 port 22."))
		nc.Flush()
	}
	first := s.start(t, nil)

	stamp := time.Now().Format(time.Stamp)
	for i := range 3 {
		nc.Publish("raw.sshd", fmt.Appendf(nil, "%s h sshd[%d]: Failed password for root from 198.51.100.7 port 1 ssh2", stamp, i))
	}
	nc.Flush()
	for i := range 3 {
		if _, err := js.Publish(ctx, "logs.sshd", natsEnvelope("2001:db8::7", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Publish(ctx, "logs.sshd", fluentBitBatch("203.0.113.5")); err != nil {
		t.Fatal(err)
	}
	waitBans(t, 10*time.Second, s.socket, "198.51.100.7", "2001:db8::7", "203.0.113.5")

	// Down while the appliance keeps publishing: JetStream keeps the lines.
	waitCommitted(t, 5*time.Second, s.socket)
	first.kill()
	first.cmd.Process.Wait()
	// Until the server has seen the dead connection go, a pull request of
	// the killed logjail could still take messages (they would come back
	// only after the ack wait); a crash is noticed, then publishing goes on.
	testkit.WaitFor(t, 10*time.Second, func() error {
		n := srv.NumClients()
		return testkit.Check(n == 1, "the killed logjail's connections gone: the server has %d clients, want 1 (the test's)", n)
	})
	for i := range 3 {
		if _, err := js.Publish(ctx, "logs.sshd", natsEnvelope("198.51.100.9", i)); err != nil {
			t.Fatal(err)
		}
	}
	s.start(t, nil)
	// The lines published while down are read.
	waitBans(t, 10*time.Second, s.socket, "198.51.100.9")
	st := status(t, s.socket)
	if st.Sources[1].State != "reading" || st.Sources[1].Reason != "connected" || !strings.Contains(st.Sources[1].Watching, "jetstream LOGS/logjail-sshd") {
		t.Errorf("jetstream source status %+v", st.Sources[1])
	}
}

// natsEnvelope is logjail's JSON envelope of sshd's i-th "Invalid user"
// message for addr.
func natsEnvelope(addr string, i int) []byte {
	b, _ := json.Marshal(map[string]string{
		"time":    time.Now().UTC().Format(time.RFC3339Nano),
		"host":    "web1",
		"message": fmt.Sprintf("web1 sshd[%d]: Invalid user admin from %s port %d", 100+i, addr, 40000+i),
	})
	return b
}

// fluentBitBatch is what Fluent Bit's nats output sends: one message
// holding a batch of syslog records ([[time, {record}], ...]), here three
// failures of addr, enough for a ban on their own.
func fluentBitBatch(addr string) []byte {
	var batch [][2]any
	for i := range 3 {
		batch = append(batch, [2]any{float64(time.Now().UnixMicro()) / 1e6, map[string]string{
			"host": "web2", "ident": "sshd", "pid": fmt.Sprint(300 + i), "pri": "38",
			"message": fmt.Sprintf("Failed password for root from %s port %d ssh2", addr, 41000+i),
		}})
	}
	b, _ := json.Marshal(batch)
	return b
}
