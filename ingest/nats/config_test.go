package nats

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/ingest/keyerr"
	"github.com/logjail/logjail/internal/testkit"
)

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	creds := testkit.WriteFile(t, dir, "user.creds", "not really")
	badPEM := testkit.WriteFile(t, dir, "bad.pem", "nothing here")
	base := Config{URL: "nats://127.0.0.1:4222", Subject: "logs.sshd"}
	js := &JetStreamConfig{Stream: "LOGS", Durable: "logjail"}
	cases := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error
	}{
		{"no url", func(c *Config) { c.URL = "" }, "url: missing"},
		{"bad scheme", func(c *Config) { c.URL = "http://127.0.0.1:4222" }, `url: "http://127.0.0.1:4222": scheme "http"`},
		{"no scheme", func(c *Config) { c.URL = "127.0.0.1:4222" }, "url: "},
		{"no host", func(c *Config) { c.URL = "nats://:4222" }, "no host"},
		{"bad port", func(c *Config) { c.URL = "nats://127.0.0.1:99999" }, "bad port"},
		{"path", func(c *Config) { c.URL = "nats://127.0.0.1:4222/x" }, "unexpected path"},
		{"empty in list", func(c *Config) { c.URL = "nats://a:4222,,nats://b:4222" }, "empty server"},
		{"user in url", func(c *Config) { c.URL = "nats://bob:s3cret@127.0.0.1:4222" }, "credentials in the URL"},
		{"no subject", func(c *Config) { c.Subject = "" }, "subject: missing"},
		{"space in subject", func(c *Config) { c.Subject = "logs. sshd" }, "subject:"},
		{"empty token", func(c *Config) { c.Subject = "logs..sshd" }, "subject: \"logs..sshd\": empty token"},
		{"trailing dot", func(c *Config) { c.Subject = "logs." }, "subject:"},
		{"gt not last", func(c *Config) { c.Subject = "logs.>.x" }, "'>' must be the last"},
		{"partial wildcard", func(c *Config) { c.Subject = "logs.ss*" }, "whole tokens"},
		{"bad queue", func(c *Config) { c.Queue = "q 1" }, "queue:"},
		{"queue with jetstream", func(c *Config) { c.Queue = "q"; c.JetStream = js }, "queue: not used with jetstream"},
		{"no stream", func(c *Config) { c.JetStream = &JetStreamConfig{Durable: "d"} }, "jetstream.stream: missing"},
		{"bad stream", func(c *Config) { c.JetStream = &JetStreamConfig{Stream: "LO.GS", Durable: "d"} }, "jetstream.stream:"},
		{"no durable", func(c *Config) { c.JetStream = &JetStreamConfig{Stream: "LOGS"} }, "jetstream.durable: missing"},
		{"bad durable", func(c *Config) { c.JetStream = &JetStreamConfig{Stream: "LOGS", Durable: "a*b"} }, "jetstream.durable:"},
		{"creds and user", func(c *Config) { c.Creds = creds; c.User = "u"; c.Password = "p" }, "creds, user/password: give one authentication method"},
		{"token and nkey", func(c *Config) { c.Token = "t"; c.NKeyFile = creds }, "nkey, token:"},
		{"user without password", func(c *Config) { c.User = "u" }, "password: missing"},
		{"password without user", func(c *Config) { c.Password = "p" }, "user: missing"},
		{"missing creds file", func(c *Config) { c.Creds = filepath.Join(dir, "nope.creds") }, "creds:"},
		{"bad nkey file", func(c *Config) { c.NKeyFile = badPEM }, "nkey:"},
		{"missing nkey file", func(c *Config) { c.NKeyFile = filepath.Join(dir, "nope") }, "nkey:"},
		{"missing ca", func(c *Config) { c.TLS.CAFile = filepath.Join(dir, "nope.pem") }, "tls.ca:"},
		{"bad ca", func(c *Config) { c.TLS.CAFile = badPEM }, "tls.ca:"},
		{"cert without key", func(c *Config) { c.TLS.CertFile = badPEM }, "tls.key: missing"},
		{"key without cert", func(c *Config) { c.TLS.KeyFile = badPEM }, "tls.cert: missing"},
		{"bad cert", func(c *Config) { c.TLS.CertFile = badPEM; c.TLS.KeyFile = badPEM }, "tls.cert/tls.key:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.mod(&cfg)
			_, err := New(cfg, nil)
			if err == nil {
				t.Fatalf("New accepted %+v", cfg)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error %q shows the password", err)
			}
		})
	}
}

// TestConfigErrorsEveryKey: New reports every bad key, not only the first,
// each carrying the key it is about, so that the configuration loader
// points at each.
func TestConfigErrorsEveryKey(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		keys []string
	}{
		{"url, subject, user", Config{URL: "http://x:4222", Subject: "a..b", Password: "p"}, []string{"url", "subject", "user"}},
		{"queue and jetstream", Config{URL: "nats://x:4222", Subject: "a", Queue: "q", JetStream: &JetStreamConfig{Durable: "a*b"}}, []string{"queue", "jetstream.stream", "jetstream.durable"}},
		{"no url, no subject", Config{}, []string{"url", "subject"}},
		{"url, creds, tls", Config{URL: "http://x:4222", Subject: "a", Creds: "/nonexistent/x.creds", TLS: TLSConfig{CAFile: "/nonexistent/ca.pem", KeyFile: "/nonexistent/key.pem"}},
			[]string{"url", "creds", "tls.ca", "tls.cert"}},
	}
	for _, tc := range cases {
		_, err := New(tc.cfg, nil)
		keys := keyerr.Keys(err)
		if !slices.Equal(keys, tc.keys) {
			t.Errorf("%s: %v: keys %q, want %q", tc.name, err, keys, tc.keys)
		}
	}
}

// ConnectOptions, which the nats enforcers and the fleet connect with,
// reports every bad key of the connection too.
func TestConnectOptionsErrorsEveryKey(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		keys []string
	}{
		{"url and tls", Config{URL: "http://x:4222", TLS: TLSConfig{CertFile: "/nonexistent/cert.pem"}}, []string{"url", "tls.key"}},
		{"nkey, tls.ca and tls.cert", Config{URL: "nats://x:4222", NKeyFile: "/nonexistent/u.nk", TLS: TLSConfig{CAFile: "/nonexistent/ca.pem", KeyFile: "/k"}},
			[]string{"nkey", "tls.ca", "tls.cert"}},
	}
	for _, tc := range cases {
		_, _, err := ConnectOptions(tc.cfg)
		keys := keyerr.Keys(err)
		if !slices.Equal(keys, tc.keys) {
			t.Errorf("%s: %v: keys %q, want %q", tc.name, err, keys, tc.keys)
		}
	}
}

func TestConfigAccepted(t *testing.T) {
	dir := t.TempDir()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	seedFile := filepath.Join(dir, "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cfg  Config
		desc string
	}{
		{Config{URL: "nats://127.0.0.1:4222", Subject: "logs.sshd"}, "nats nats://127.0.0.1:4222 logs.sshd"},
		{Config{URL: "nats://127.0.0.1", Subject: "logs.*", Queue: "q"}, "nats nats://127.0.0.1 logs.* (queue q)"},
		{Config{URL: "tls://a.example:4222, tls://b.example:4222", Subject: "logs.>", User: "bob", Password: "s3cret"},
			"nats tls://a.example:4222,tls://b.example:4222 logs.>"},
		{Config{URL: "nats://127.0.0.1:4222", Subject: "logs.sshd", Token: "s3cret",
			JetStream: &JetStreamConfig{Stream: "LOGS", Durable: "logjail-sshd"}},
			"nats nats://127.0.0.1:4222 logs.sshd (jetstream LOGS/logjail-sshd)"},
		{Config{URL: "nats://127.0.0.1:4222", NKeyFile: seedFile,
			JetStream: &JetStreamConfig{Stream: "LOGS", Durable: "d"}},
			"nats nats://127.0.0.1:4222 (all subjects) (jetstream LOGS/d)"},
	}
	for _, tc := range cases {
		s, err := New(tc.cfg, nil)
		if err != nil {
			t.Errorf("New(%+v): %v", tc.cfg, err)
			continue
		}
		if got := s.Describe(); got != tc.desc {
			t.Errorf("Describe = %q, want %q", got, tc.desc)
		}
		if strings.Contains(s.Describe(), "s3cret") || strings.Contains(s.Describe(), "bob") {
			t.Errorf("Describe shows credentials: %q", s.Describe())
		}
		if st := s.Stats(); st.State != ingest.StateWaiting || st.Reason != "disconnected" {
			t.Errorf("initial state %q (%s)", st.State, st.Reason)
		}
	}
}

func TestBackoff(t *testing.T) {
	s := newSource(t, Config{URL: "nats://127.0.0.1:4222", Subject: "x"})
	s.reconnectBase = 100 * time.Millisecond
	for n := 1; n < 100; n++ {
		want := min(s.reconnectBase<<min(n-1, 16), reconnectMax)
		for range 20 {
			d := s.backoff(n)
			if d < want*3/4 || d > want*5/4 {
				t.Fatalf("backoff(%d) = %v, want %v ±25%%", n, d, want)
			}
		}
	}
}

func TestPayload(t *testing.T) {
	s := newSource(t, Config{URL: "nats://127.0.0.1:4222", Subject: "x"})
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	ts := time.Date(2026, 11, 25, 7, 13, 18, 0, time.UTC)
	tsNano := time.Date(2026, 11, 25, 8, 13, 18, 123456789, time.FixedZone("", 3600))
	cases := []struct {
		name    string
		in      string
		msg     string
		host    string
		time    time.Time
		errs    uint64
		skipped bool
	}{
		{"raw", "Failed password for root from 192.0.2.1 port 22 ssh2\n", "Failed password for root from 192.0.2.1 port 22 ssh2", "", time.Time{}, 0, false},
		{"raw crlf", "line\r\n", "line", "", time.Time{}, 0, false},
		{"raw bad utf8 and nul", "a\xffb\x00c", "a\uFFFDbc", "", time.Time{}, 0, false},
		{"empty", "", "", "", time.Time{}, 0, false},
		{"envelope", `{"time":"2026-11-25T07:13:18Z","host":"web1","message":"sshd[1]: Failed password"}`, "sshd[1]: Failed password", "web1", ts, 0, false},
		{"envelope nano", `{"time":"2026-11-25T08:13:18.123456789+01:00","message":"m\n"}` + "\n", "m", "", tsNano, 0, false},
		{"envelope no time", `{"message":"m","host":"h","extra":[1,2]}`, "m", "h", time.Time{}, 0, false},
		{"envelope null time", `{"message":"m","time":null}`, "m", "", time.Time{}, 0, false},
		{"envelope bad time", `{"message":"m","time":"yesterday"}`, "m", "", time.Time{}, 1, false},
		{"envelope numeric time", `{"message":"m","time":1700000000}`, "m", "", time.Time{}, 1, false},
		{"envelope numeric host", `{"message":"m","host":7}`, "m", "", time.Time{}, 0, false},
		{"fluent bit stamp of last year", `{"ident":"sshd","pid":"1","host":"h","time":"Dec 31 23:59:58","message":" m"}`, "h sshd[1]: m", "h",
			time.Date(2025, 12, 31, 23, 59, 58, 0, time.Local), 0, false},
		{"fluent bit stamp with fractions", `{"ident":"sshd","host":"h","time":"Nov  5 07:13:18.25","message":"m"}`, "h sshd: m", "h",
			time.Date(2026, 11, 5, 7, 13, 18, 250e6, time.Local), 0, false},
		{"fluent bit bad time", `{"ident":"sshd","time":"later","message":"m"}`, "sshd: m", "", time.Time{}, 1, false},
		{"vector numeric procid", `{"appname":"sshd","procid":42,"hostname":"h","message":"m"}`, "h sshd[42]: m", "h", time.Time{}, 0, false},
		{"vector negative procid", `{"appname":"sshd","procid":-1,"hostname":"h","message":"m"}`, "h sshd: m", "h", time.Time{}, 1, false},
		{"journald empty MESSAGE array", `{"MESSAGE":[]}`, "", "", time.Time{}, 0, true},
		{"journald byte out of range", `{"MESSAGE":[256]}`, "", "", time.Time{}, 0, true},
		{"journald values of mixed kinds", `{"MESSAGE":["a",[98]],"_COMM":"x"}`, "x: b", "", time.Time{}, 0, false},
		{"malformed json", `{"message":"m"`, `{"message":"m"`, "", time.Time{}, 0, false},
		{"no message", `{"level":"info","msg":"x"}`, `{"level":"info","msg":"x"}`, "", time.Time{}, 0, false},
		{"message not string", `{"message":42}`, `{"message":42}`, "", time.Time{}, 0, false},
		{"array", `[{"message":"m"}]`, `[{"message":"m"}]`, "", time.Time{}, 0, false},
		{"max size", strings.Repeat("x", MaxPayload), strings.Repeat("x", MaxPayload), "", time.Time{}, 0, false},
		{"oversize", strings.Repeat("x", MaxPayload+1), "", "", time.Time{}, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Stats()
			e, ok := s.entry([]byte(tc.in), now)
			after := s.Stats()
			if ok == tc.skipped {
				t.Fatalf("ok = %v", ok)
			}
			if tc.skipped {
				if after.Skipped != before.Skipped+1 {
					t.Fatalf("skipped not counted")
				}
				return
			}
			if e.Message != tc.msg || e.Host != tc.host || !e.Time.Equal(tc.time) || !e.ReadAt.Equal(now) {
				t.Fatalf("got message %q host %q time %v readAt %v", e.Message, e.Host, e.Time, e.ReadAt)
			}
			if after.Errors-before.Errors != tc.errs {
				t.Fatalf("errors +%d, want +%d", after.Errors-before.Errors, tc.errs)
			}
			if e.Ack != nil || e.Pos.Key != "" {
				t.Fatalf("unexpected Ack or Pos")
			}
		})
	}
}
