package syslog_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/ingest/syslog"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/pipelines"
)

// TestSenderLayoutMatchesShippedFilter sends records as real senders frame
// them to a TCP listener and requires the exact laid-out line, and that the
// shipped sshd filter counts it: a stray space or BOM after "sshd[PID]:"
// was a silent miss.
func TestSenderLayoutMatchesShippedFilter(t *testing.T) {
	const (
		want = "vm sshd[4001]: Failed password for root from 192.0.2.10 port 52000 ssh2"
		text = "Failed password for root from 192.0.2.10 port 52000 ssh2"
	)
	stamp5424 := "2026-12-07T02:00:00.123456+00:00"
	cases := []struct {
		name, record string
		octets       bool // octet-counted framing, else newline
	}{
		// rsyslog's RSYSLOG_SyslogProtocol23Format puts a space before
		// %msg%, whose text starts with a space of its own.
		{"rsyslog RFC 5424 octet-counted", "<38>1 " + stamp5424 + " vm sshd 4001 - -  " + text, true},
		{"RFC 5424 with BOM", "<38>1 " + stamp5424 + " vm sshd 4001 - - \uFEFF" + text, true},
		{"RFC 5424 with space and BOM", "<38>1 " + stamp5424 + " vm sshd 4001 - -  \uFEFF" + text, true},
		{"RFC 5424 CRLF", "<38>1 " + stamp5424 + " vm sshd 4001 - - " + text + "\r", false},
		{"RFC 3164 two spaces", "<38>Dec  7 02:00:00 vm sshd[4001]:  " + text, false},
		{"RFC 3164 CRLF in an octet-counted frame", "<38>Dec  7 02:00:00 vm sshd[4001]: " + text + "\r\n", true},
	}
	m, _, err := pipelines.ResolveFilter("sshd", ".")
	if err != nil {
		t.Fatal(err)
	}
	l, out := startTCP(t)
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frame := tc.record + "\n"
			if tc.octets {
				frame = fmt.Sprintf("%d %s", len(tc.record), tc.record)
			}
			if _, err := conn.Write([]byte(frame)); err != nil {
				t.Fatal(err)
			}
			var e ingest.Entry
			select {
			case e = <-out:
			case <-time.After(10 * time.Second):
				t.Fatal("no entry")
			}
			if e.Message != want {
				t.Fatalf("Message %q\nwant    %q", e.Message, want)
			}
			f, oc := m.Match(&e, e.Time)
			if oc != match.Matched || f.Addr.String() != "192.0.2.10" {
				t.Fatalf("shipped sshd filter: outcome %v addr %v, want a failure of 192.0.2.10", oc, f.Addr)
			}
		})
	}
}

// startTCP runs a syslog listener on a free loopback TCP port.
func startTCP(t *testing.T) (*syslog.Listener, chan ingest.Entry) {
	t.Helper()
	l, err := syslog.New(syslog.Config{Listen: "tcp://127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan ingest.Entry, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-l.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("listener not ready")
	}
	return l, out
}
