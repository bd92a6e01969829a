package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// rsyslog on an appliance (the peer namespace) forwards to logjail's syslog
// listeners on the gateway (srv) with each of its standard transports and
// templates. Programs on the appliance log through rsyslog's socket with
// util-linux's logger, as sshd would through /dev/log.
func TestRealRsyslogForwarding(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	tools := needTools(t, map[string]string{"rsyslogd": "rsyslog", "logger": "util-linux"})
	const attacker, bystander = "192.0.2.3", "192.0.2.4"
	for _, tc := range []struct {
		name, conf, listen string
		tls                bool
	}{
		{name: "udp-rfc3164", conf: "forward-udp.conf.tmpl", listen: "udp://192.0.2.1:5514"},
		{name: "tcp-newline-rfc3164", conf: "forward-tcp.conf.tmpl", listen: "tcp://192.0.2.1:5514"},
		{name: "tcp-octet-counted-rfc5424", conf: "forward-tcp-octet-5424.conf.tmpl", listen: "tcp://192.0.2.1:5514"},
		{name: "tls-rfc5424", conf: "forward-tls-5424.conf.tmpl", listen: "tls://192.0.2.1:6514", tls: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tn := newTestNet(t)
			tn.listen(t, 2222)
			dir := t.TempDir()
			vars := map[string]any{"Dir": dir, "Socket": filepath.Join(dir, "log.sock"), "Target": "192.0.2.1",
				"Port": strings.TrimPrefix(tc.listen[strings.LastIndex(tc.listen, ":"):], ":")}
			tlsConf := ""
			if tc.tls {
				needGTLS(t)
				c := makeCerts(t, dir)
				vars["CA"], vars["Cert"], vars["Key"], vars["ServerName"] = c.ca, c.clientCert, c.clientKey, "logjail.test"
				tlsConf = fmt.Sprintf(", tls: {cert: %s, key: %s, client_ca: %s, require_client_cert: true}", c.serverCert, c.serverKey, c.ca)
			}
			s := newSetup(t, fmt.Sprintf(e2ePipeline("maxretry: 3", "bantime: 1h", `ingest:
  - syslog: {listen: "%s", allow: [192.0.2.0/24]%s}`, sshdFilter, nftables2222), tc.listen, tlsConf))

			render(t, filepath.Join("rsyslog", tc.conf), filepath.Join(dir, "rsyslog.conf"), vars)
			rsyslogd := startThirdParty(t, tn.peer, dir, "rsyslogd", tools["rsyslogd"], "-n",
				"-f", filepath.Join(dir, "rsyslog.conf"), "-i", filepath.Join(dir, "rsyslogd.pid"))
			rsyslogd.waitFile(t, filepath.Join(dir, "log.sock"))
			log := func(t testing.TB, msg string) {
				t.Helper()
				out, err := exec.Command(tools["logger"], "-u", filepath.Join(dir, "log.sock"), "-p", "auth.info",
					"-t", "sshd", "--id=4001", msg).CombinedOutput()
				if err != nil {
					t.Fatalf("logger: %v\n%s", err, out)
				}
			}
			s.warm = func(t testing.TB) { log(t, "Server listening on 0.0.0.0 port 22.") }
			s.start(t, tn)

			for _, a := range []string{attacker, bystander} {
				if !tn.connect(t, a, "192.0.2.1", 2222) {
					t.Fatalf("%s cannot connect before any ban", a)
				}
			}
			for i := range 3 {
				log(t, fmt.Sprintf("Failed password for root from %s port %d ssh2", attacker, 1234+i))
			}
			tn.waitBanned(t, s, "e2e-v4", attacker)
			if tn.connect(t, attacker, "192.0.2.1", 2222) {
				t.Errorf("banned %s still connects", attacker)
			}
			if !tn.connect(t, bystander, "192.0.2.1", 2222) {
				t.Errorf("%s cannot connect while %s is banned", bystander, attacker)
			}
		})
	}
}

// needGTLS finds rsyslog's gtls network stream driver (Debian's
// rsyslog-gnutls): a skip without it, a failure in CI.
func needGTLS(t *testing.T) {
	t.Helper()
	for _, glob := range []string{"/usr/lib/*/rsyslog/lmnsd_gtls.so", "/usr/lib/rsyslog/lmnsd_gtls.so"} {
		if m, _ := filepath.Glob(glob); len(m) > 0 {
			return
		}
	}
	testkit.Missing(t, "rsyslog's gtls driver (lmnsd_gtls.so) is missing (apt-get install rsyslog-gnutls)")
}

// updateRecords rewrites testdata/records/ from what the real daemons send
// (LOGJAIL_UPDATE_RECORDS=1 go test -run TestRealRsyslogRecords ...).
var updateRecords = os.Getenv("LOGJAIL_UPDATE_RECORDS") == "1"

// The records rsyslog puts on the wire, byte for byte, for each forwarding
// template: captured by a plain listener in the srv namespace and compared
// with testdata/records/ (times and the host name masked), so the fixtures
// stay what the installed rsyslog really sends.
func TestRealRsyslogRecords(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	tools := needTools(t, map[string]string{"rsyslogd": "rsyslog", "logger": "util-linux"})
	const msg = "Failed password for root from 192.0.2.3 port 1234 ssh2"
	for _, tc := range []struct {
		name, conf, network string
	}{
		{"rsyslog-udp-rfc3164", "forward-udp.conf.tmpl", "udp"},
		{"rsyslog-tcp-newline-rfc3164", "forward-tcp.conf.tmpl", "tcp"},
		{"rsyslog-tcp-octet-counted-rfc5424", "forward-tcp-octet-5424.conf.tmpl", "tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tn := newTestNet(t)
			dir := t.TempDir()
			records := make(chan []byte, 1)
			testkit.InNetns(t, tn.srv, func() { captureSyslog(t, tc.network, "192.0.2.1:5514", msg, records) })
			render(t, filepath.Join("rsyslog", tc.conf), filepath.Join(dir, "rsyslog.conf"), map[string]any{
				"Dir": dir, "Socket": filepath.Join(dir, "log.sock"), "Target": "192.0.2.1", "Port": 5514,
			})
			rsyslogd := startThirdParty(t, tn.peer, dir, "rsyslogd", tools["rsyslogd"], "-n",
				"-f", filepath.Join(dir, "rsyslog.conf"), "-i", filepath.Join(dir, "rsyslogd.pid"))
			rsyslogd.waitFile(t, filepath.Join(dir, "log.sock"))
			var got []byte
			deadline := time.After(10 * time.Second)
			for got == nil {
				if out, err := exec.Command(tools["logger"], "-u", filepath.Join(dir, "log.sock"), "-p", "auth.info",
					"-t", "sshd", "--id=4001", msg).CombinedOutput(); err != nil {
					t.Fatalf("logger: %v\n%s", err, out)
				}
				select {
				case got = <-records:
				case <-time.After(time.Second): // UDP: sent before the listener saw rsyslog; again
				case <-deadline:
					t.Fatal("no record from rsyslog within 10s")
				}
			}
			file := fixture("records", tc.name+".txt")
			keepRecord(t, tc.name+".txt", got)
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (LOGJAIL_UPDATE_RECORDS=1 captures it)", err)
			}
			if g, w := maskRecord(got), maskRecord(want); g != w {
				t.Errorf("rsyslog sent %q\nmasked:   %q\nrecorded: %q (%s)", got, g, w, file)
			}
		})
	}
}

// captureSyslog listens on addr (in the caller's namespace) and sends on
// records the first syslog frame that contains msg, with its framing.
func captureSyslog(t *testing.T, network, addr, msg string, records chan<- []byte) {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 64<<10)
			for {
				n, _, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				if bytes.Contains(buf[:n], []byte(msg)) {
					records <- bytes.Clone(buf[:n])
					return
				}
			}
		}()
		return
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		var stream []byte
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			stream = append(stream, buf[:n]...)
			// Every frame of both TCP framings ends with a newline here
			// (the 5424 template ends with one, inside the count).
			if i := bytes.Index(stream, []byte(msg)); i >= 0 {
				if j := bytes.IndexByte(stream[i:], '\n'); j >= 0 {
					start := bytes.LastIndexByte(stream[:i], '\n') + 1
					records <- bytes.Clone(stream[start : i+j+1])
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
}

// What changes from one capture to the next: the octet count (it counts
// the host name), RFC 3339 and RFC 3164 times, the host name after them.
var (
	octetCount = regexp.MustCompile(`^\d+ `)
	recordTime = regexp.MustCompile(`(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) \S+ `)
)

func maskRecord(b []byte) string {
	s := octetCount.ReplaceAllString(string(b), "LEN ")
	return recordTime.ReplaceAllString(s, "TIME HOST ")
}
