package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/logjail/logjail/internal/testkit"
)

// Debian's nats-server, started by hand with its own configuration file in
// the srv namespace; a log shipper (the peer namespace) publishes sshd's
// messages in the JSON shape it produces, logjail subscribes with the
// shipped sshd filter. Each accepted shape must ban.
func TestRealNATSServerEnvelopes(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	tools := needTools(t, map[string]string{"nats-server": "nats-server"})
	for _, tc := range natsEnvelopes {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testRealNATSEnvelope(t, tools["nats-server"], tc.record)
		})
	}
}

// natsEnvelopes are the shippers' JSON shapes: record is the shipper's
// JSON for sshd's message msg, logged at time at with pid. (A table of
// samples: long, one shape a row.)
var natsEnvelopes = []struct {
	name   string
	record func(at time.Time, pid int, msg string) any
}{
	{"logjail-envelope", func(at time.Time, pid int, msg string) any {
		return map[string]string{"time": at.UTC().Format(time.RFC3339Nano), "host": "web1",
			"message": fmt.Sprintf("web1 sshd[%d]: %s", pid, msg)}
	}},
	// journalctl -o json / systemd-journal-upload: every value a string.
	{"journald-json-export", func(at time.Time, pid int, msg string) any {
		return map[string]string{
			"__CURSOR":              "s=4bd8c7a8f4a34d0e9e1c5a6b4e2f8c11;i=" + strconv.Itoa(pid),
			"__REALTIME_TIMESTAMP":  strconv.FormatInt(at.UnixMicro(), 10),
			"__MONOTONIC_TIMESTAMP": "123456789",
			"_BOOT_ID":              "4bd8c7a8f4a34d0e9e1c5a6b4e2f8c11",
			"PRIORITY":              "6",
			"SYSLOG_FACILITY":       "4",
			"SYSLOG_IDENTIFIER":     "sshd",
			"_PID":                  strconv.Itoa(pid),
			"_COMM":                 "sshd",
			"_TRANSPORT":            "syslog",
			"_SYSTEMD_UNIT":         "ssh.service",
			"_HOSTNAME":             "web1",
			"MESSAGE":               msg,
		}
	}},
	// Vector's syslog source, JSON codec: host is the sender's address,
	// hostname the one in the record; procid is a number.
	{"vector-syslog", func(at time.Time, pid int, msg string) any {
		return map[string]any{
			"appname": "sshd", "facility": "auth", "host": "192.0.2.9", "hostname": "web1",
			"message": msg, "procid": pid, "severity": "info", "source_ip": "192.0.2.9",
			"source_type": "syslog", "timestamp": at.UTC().Format(time.RFC3339Nano), "version": 1,
		}
	}},
	// Fluent Bit's syslog-rfc5424 parser, the time kept (Time_Keep).
	{"fluent-bit-syslog", func(at time.Time, pid int, msg string) any {
		return map[string]string{
			"pri": "38", "time": at.UTC().Format("2006-01-02T15:04:05.000Z07:00"), "host": "web1",
			"ident": "sshd", "pid": strconv.Itoa(pid), "message": msg,
		}
	}},
}

// natsEnvelopeConfig reads logs.sshd twice: e2e with the sshd filter, and
// layout with a regex of the record laid out as the other structured
// sources do ("HOST TAG[PID]: MSG").
const natsEnvelopeConfig = `
pipelines:
  e2e:
    enabled: true
    maxretry: 3
    bantime: 1h
    ingest:
      - nats: {url: "nats://192.0.2.1:4222", subject: "logs.sshd", user: logjail, password: logjail-secret}
    match:
      filter: sshd
    enforce:
      - nftables: {ports: [2222]}
  # The record laid out as the other structured sources do: "HOST TAG[PID]: MSG".
  layout:
    enabled: true
    maxretry: 3
    bantime: 1h
    ingest:
      - nats: {url: "nats://192.0.2.1:4222", subject: "logs.sshd", user: logjail, password: logjail-secret}
    match:
      failregex: ['^web1 sshd\[40\d\d\]: Failed password for root from <HOST> port \d+ ssh2$']
    enforce: []
`

func testRealNATSEnvelope(t *testing.T, natsServer string, record func(at time.Time, pid int, msg string) any) {
	const attacker, bystander = "192.0.2.2", "192.0.2.4"
	tn := newTestNet(t)
	tn.listen(t, 2222)
	publish := startShipper(t, tn, natsServer)
	s := newSetup(t, natsEnvelopeConfig)
	s.warm = func(t testing.TB) {
		publish(t, record(time.Now(), 1, "Server listening on 0.0.0.0 port 22."))
	}
	s.start(t, tn)
	waitSourceReads(t, 10*time.Second, s.socket, "layout", func() { s.warm(t) })
	for i := range 3 {
		publish(t, record(time.Now(), 4001+i, fmt.Sprintf("Failed password for root from %s port %d ssh2", attacker, 40000+i)))
	}
	tn.waitBanned(t, s, "e2e-v4", attacker)
	// The record laid out as "web1 sshd[PID]: MSG": pipeline layout bans.
	waitBanOf(t, 5*time.Second, s.socket, "layout", attacker)
	if tn.connect(t, attacker, "192.0.2.1", 2222) {
		t.Errorf("banned %s still connects", attacker)
	}
	if !tn.connect(t, bystander, "192.0.2.1", 2222) {
		t.Errorf("%s cannot connect while %s is banned", bystander, attacker)
	}
}

// startShipper runs nats-server in tn's srv namespace and connects a log
// shipper to it from the peer namespace; publish sends a record on
// logs.sshd.
func startShipper(t *testing.T, tn *testNet, natsServer string) (publish func(t testing.TB, payload any)) {
	t.Helper()
	dir := t.TempDir()
	render(t, "nats/nats-server.conf.tmpl", filepath.Join(dir, "nats-server.conf"), map[string]any{
		"Dir": dir, "Addr": "192.0.2.1", "Port": 4222, "ShipperPassword": "shipper-secret", "LogjailPassword": "logjail-secret",
	})
	srv := startThirdParty(t, tn.srv, dir, "nats-server", natsServer, "-c", filepath.Join(dir, "nats-server.conf"))
	srv.waitFile(t, filepath.Join(dir, "nats-server.pid"))
	var nc *natsgo.Conn
	testkit.WaitFor(t, 10*time.Second, func() error {
		var err error
		testkit.InNetns(t, tn.peer, func() {
			nc, err = natsgo.Connect("nats://192.0.2.1:4222", natsgo.UserInfo("shipper", "shipper-secret"), natsgo.MaxReconnects(0))
		})
		if err != nil {
			return fmt.Errorf("the shipper connects to nats-server: %w", err)
		}
		return nil
	})
	t.Cleanup(nc.Close)
	return func(t testing.TB, payload any) {
		t.Helper()
		b, err := json.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("logs.sshd", b); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}
