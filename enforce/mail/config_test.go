package mail

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest/keyerr"
	"github.com/logjail/logjail/internal/testkit"
)

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := testkit.WriteFile(t, dir, "ca.txt", "hello")
	emptyPW := testkit.WriteFile(t, dir, "empty", "")
	ok := func(f func(*Config)) Config {
		c := Config{To: []string{"root@example.org"}, From: "logjail@example.org", SMTP: SMTP{Addr: "mail.example.org:587"}}
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"valid", ok(func(c *Config) {}), ""},
		{"no to", ok(func(c *Config) { c.To = nil }), "mail: to: no recipient"},
		{"bad to", ok(func(c *Config) { c.To = []string{"root@example.org", "not an address"} }), "mail: to[1]:"},
		{"no from", ok(func(c *Config) { c.From = "" }), "mail: from:"},
		{"bad from", ok(func(c *Config) { c.From = "logjail@" }), "mail: from:"},
		{"neither", ok(func(c *Config) { c.SMTP = SMTP{} }), "mail: smtp.addr or sendmail"},
		{"both", ok(func(c *Config) { c.Sendmail = []string{"/bin/true"} }), "mail: smtp.addr and sendmail are both set"},
		{"smtp keys without addr", ok(func(c *Config) { c.SMTP = SMTP{Username: "u"} }), "mail: smtp.addr: not set"},
		{"bad addr", ok(func(c *Config) { c.SMTP.Addr = "mail example" }), "mail: smtp.addr:"},
		{"bad tls", ok(func(c *Config) { c.SMTP.TLS = "ssl" }), "mail: smtp.tls:"},
		{"negative timeout", ok(func(c *Config) { c.SMTP.Timeout = -time.Second }), "mail: smtp.timeout:"},
		{"password twice", ok(func(c *Config) { c.SMTP.Username, c.SMTP.Password, c.SMTP.PasswordFile = "u", "p", emptyPW }), "mail: smtp.password and smtp.password_file"},
		{"password file missing", ok(func(c *Config) { c.SMTP.Username, c.SMTP.PasswordFile = "u", filepath.Join(dir, "nope") }), "mail: smtp.password_file:"},
		{"password file empty", ok(func(c *Config) { c.SMTP.Username, c.SMTP.PasswordFile = "u", emptyPW }), "mail: smtp.password_file:"},
		{"user without password", ok(func(c *Config) { c.SMTP.Username = "u" }), "mail: smtp.password or smtp.password_file"},
		{"password without user", ok(func(c *Config) { c.SMTP.Password = "p" }), "mail: smtp.username"},
		{"ca missing", ok(func(c *Config) { c.SMTP.CA = filepath.Join(dir, "nope") }), "mail: smtp.ca:"},
		{"ca not pem", ok(func(c *Config) { c.SMTP.CA = notPEM }), "mail: smtp.ca:"},
		{"ca without tls", ok(func(c *Config) { c.SMTP.TLS, c.SMTP.CA = "none", notPEM }), "mail: smtp.ca:"},
		{"sendmail missing", ok(func(c *Config) { c.SMTP, c.Sendmail = SMTP{}, []string{filepath.Join(dir, "sendmail")} }), "mail: sendmail[0]:"},
		{"sendmail empty", ok(func(c *Config) { c.SMTP, c.Sendmail = SMTP{}, []string{""} }), "mail: sendmail[0]:"},
		{"bad whois server", ok(func(c *Config) { c.WhoisServer = "who is" }), "mail: whois_server:"},
		{"bad on", ok(func(c *Config) { c.On = []string{"ban", "reload"} }), "mail: on[1]:"},
		{"negative batch", ok(func(c *Config) { c.Batch = -time.Second }), "mail: batch:"},
		{"bad max_per_hour", ok(func(c *Config) { c.MaxPerHour = -2 }), "mail: max_per_hour:"},
		{"unlimited", ok(func(c *Config) { c.MaxPerHour = -1 }), ""},
		{"whois host without port", ok(func(c *Config) { c.WhoisServer = "whois.ripe.net" }), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// A password never travels in clear to a server that is not on loopback.
func TestPasswordNeedsTLS(t *testing.T) {
	for _, tc := range []struct {
		addr, tls string
		ok        bool
	}{
		{"mail.example.org:25", "none", false},
		{"192.0.2.25:25", "none", false},
		{"mail.example.org:587", "starttls", true},
		{"mail.example.org:465", "tls", true},
		{"127.0.0.1:25", "none", true},
		{"[::1]:25", "none", true},
		{"localhost:25", "none", true},
	} {
		_, err := New(Config{To: []string{"root@example.org"}, From: "l@example.org",
			SMTP: SMTP{Addr: tc.addr, TLS: tc.tls, Username: "u", Password: "p"}}, nil)
		if tc.ok != (err == nil) {
			t.Errorf("%s tls=%s: err %v", tc.addr, tc.tls, err)
		}
		if err != nil && !strings.Contains(err.Error(), "mail: smtp.tls:") {
			t.Errorf("error does not name smtp.tls: %v", err)
		}
	}
}

func TestSMTPDefaults(t *testing.T) {
	for _, tc := range []struct{ addr, tls, wantAddr, wantMode string }{
		{"mail.example.org", "", "mail.example.org:587", "starttls"},
		{"mail.example.org:465", "", "mail.example.org:465", "tls"},
		{"mail.example.org", "tls", "mail.example.org:465", "tls"},
		{"mail.example.org", "none", "mail.example.org:25", "none"},
		{"[2001:db8::25]", "", "[2001:db8::25]:587", "starttls"},
	} {
		m, err := New(Config{To: []string{"root@example.org"}, From: "l@example.org", SMTP: SMTP{Addr: tc.addr, TLS: tc.tls}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if s := m.cfg.smtp; s.addr != tc.wantAddr || s.mode != tc.wantMode || s.timeout != 30*time.Second {
			t.Errorf("%s %s: %s %s %s", tc.addr, tc.tls, s.addr, s.mode, s.timeout)
		}
		if m.cfg.batch != time.Minute || m.cfg.maxPerHour != 20 || !m.cfg.on[kindBan] || m.cfg.on[kindUnban] || m.cfg.whoisServer != "whois.iana.org:43" || m.cfg.prefix != "[logjail]" {
			t.Errorf("defaults %+v", m.cfg)
		}
	}
}

// sendmailScript writes a program that stores its arguments and standard
// input, then exits with code (and a message on stderr when not 0).
func sendmailScript(t *testing.T, code string) (script, args, stdin string) {
	t.Helper()
	dir := t.TempDir()
	script, args, stdin = filepath.Join(dir, "sendmail"), filepath.Join(dir, "args"), filepath.Join(dir, "stdin")
	body := "#!/bin/sh\necho \"$@\" > " + args + "\ncat > " + stdin + ".tmp && mv " + stdin + ".tmp " + stdin + "\n"
	if code != "0" {
		body += "echo 'sendmail: fatal: no such user' >&2\n"
	}
	body += "exit " + code + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, args, stdin
}

func TestSendmail(t *testing.T) {
	script, args, stdin := sendmailScript(t, "0")
	m := newMailer(t, Config{
		To: []string{"root@example.org", "Second <two@example.org>"}, From: "logjail@example.org",
		Sendmail: []string{script, "-t", "-oi"},
		Lines:    true,
		Batch:    10 * time.Millisecond,
	})
	run(t, m)
	_ = m.Ban(context.Background(), ban("sshd", "203.0.113.7", ".", "Failed password"))
	waitStats(t, m, "sendmail's input", func(s Stats) bool { return s.Sent == 1 })
	a, err := os.ReadFile(args)
	if err != nil || string(a) != "-t -oi\n" {
		t.Errorf("args %q %v", a, err)
	}
	in, err := os.ReadFile(stdin)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(in, []byte("\r")) {
		t.Error("CR in sendmail's input; want LF line ends")
	}
	p := parse(t, in)
	if p.Subject != "[logjail] sshd: banned 203.0.113.7" || p.Header.Get("To") != "<root@example.org>, \"Second\" <two@example.org>" {
		t.Errorf("subject %q to %q", p.Subject, p.Header.Get("To"))
	}
	if !strings.Contains(p.Body, "\n  .\n  Failed password\n") {
		t.Errorf("body:\n%s", p.Body)
	}
	for _, l := range strings.Split(string(in), "\n") {
		if l == "." {
			t.Error("a lone dot line reached sendmail")
		}
	}
}

// sendmail's exit status and stderr are in the error; a mail it refuses
// for good is given up after three tries and counted as dropped.
func TestSendmailFailure(t *testing.T) {
	script, _, _ := sendmailScript(t, "67")
	m := newMailer(t, Config{
		To: []string{"root@example.org"}, From: "logjail@example.org",
		Sendmail: []string{script, "-t"},
		Batch:    10 * time.Millisecond,
	})
	err := m.sendmail(context.Background(), []byte("Subject: x\r\n\r\nx\r\n"))
	if err == nil || !strings.Contains(err.Error(), "exit status 67") || !strings.Contains(err.Error(), "sendmail: fatal: no such user") {
		t.Fatalf("err %v", err)
	}
	run(t, m)
	_ = m.Ban(context.Background(), ban("sshd", "203.0.113.7"))
	waitStats(t, m, "giving up", func(s Stats) bool { return s.Dropped == 1 })
	if s := m.Stats(); s.Failed != permanentTries || s.Sent != 0 || s.Queued != 0 || !strings.Contains(s.LastError, "exit status 67: sendmail: fatal: no such user") {
		t.Errorf("stats %s", fmtStats(s))
	}

	// EX_TEMPFAIL (75) is retried until it works.
	script, _, stdin := sendmailScript(t, "75")
	m = newMailer(t, Config{
		To: []string{"root@example.org"}, From: "logjail@example.org",
		Sendmail: []string{script, "-t"},
		Batch:    10 * time.Millisecond,
	})
	run(t, m)
	_ = m.Ban(context.Background(), ban("sshd", "203.0.113.7"))
	waitStats(t, m, "retries", func(s Stats) bool { return s.Failed > permanentTries })
	// Swap the program for one that succeeds (a rename: the running one
	// keeps its text).
	if err := os.WriteFile(script+".new", []byte("#!/bin/sh\ncat > "+stdin+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(script+".new", script); err != nil {
		t.Fatal(err)
	}
	waitStats(t, m, "delivery", func(s Stats) bool { return s.Sent == 1 })
	if s := m.Stats(); s.Dropped != 0 {
		t.Errorf("stats %s", fmtStats(s))
	}
}

func TestQuotedPrintable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", " ", "\t", "=", ".", "From ", "é", "日本", "\xff", "~", "\n", "-", "0"}
	for i := range 2000 {
		var b strings.Builder
		for range r.IntN(400) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		text := strings.TrimSuffix(b.String(), "\n") + "\n"
		enc := qpEncode(text)
		for j, l := range strings.Split(strings.TrimSuffix(string(enc), "\r\n"), "\r\n") {
			if len(l) > 76 || strings.HasPrefix(l, ".") || strings.HasPrefix(l, "From ") || strings.ContainsAny(l, "\r\n") {
				t.Fatalf("case %d line %d: %q", i, j, l)
			}
			if strings.HasSuffix(l, " ") || strings.HasSuffix(l, "\t") {
				t.Fatalf("case %d line %d: trailing white space %q", i, j, l)
			}
		}
		dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(enc)))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if want := strings.ReplaceAll(text, "\n", "\r\n"); string(dec) != want {
			t.Fatalf("case %d: round trip\n%q\n%q", i, dec, want)
		}
	}
}

func TestCleanText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain text\twith tab", 100, "plain text\twith tab"},
		{"a\r\nb", 100, `a\x0d\x0ab`},
		{"\x00\x1b\x7f", 100, `\x00\x1b\x7f`},
		{"bad \xff\xfe utf8", 100, "bad \uFFFD\uFFFD utf8"},
		{"\u0085\u2028\u2029\u202e\u2066\ufeff", 100, `\u0085\u2028\u2029\u202e\u2066\ufeff`},
		{"héllo wörld", 2, "h…[cut]"}, // "é" split by the cut is dropped
		{"日本語", 6, "日本…[cut]"},
	} {
		if got := cleanText(tc.in, tc.max); got != tc.want {
			t.Errorf("cleanText(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
	if got := cleanHeader("a\tb"+strings.Repeat("x", 100), 10); got != "a bxxxxxxx…" {
		t.Errorf("cleanHeader %q", got)
	}
}

func TestSubjects(t *testing.T) {
	m, err := New(Config{To: []string{"root@example.org"}, From: "l@example.org", SMTP: SMTP{Addr: "127.0.0.1:25", TLS: "none"}, SubjectPrefix: "[host1]"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := func(p, a string) item { return item{kind: kindBan, pipeline: p, d: ban(p, a)} }
	u := func(p, a string) item { return item{kind: kindUnban, pipeline: p, d: ban(p, a)} }
	ev := func(k itemKind, p string) item { return item{kind: k, pipeline: p} }
	var held backlog
	held.add(b("nginx", "192.0.2.1"))
	held.add(b("nginx", "192.0.2.2"))
	for _, tc := range []struct {
		items []item
		back  *backlog
		want  string
	}{
		{[]item{b("sshd", "203.0.113.7")}, &backlog{}, "[host1] sshd: banned 203.0.113.7"},
		{[]item{b("sshd", "2001:db8::/64")}, &backlog{}, "[host1] sshd: banned 2001:db8::/64"},
		{[]item{u("sshd", "203.0.113.7")}, &backlog{}, "[host1] sshd: unbanned 203.0.113.7"},
		{[]item{ev(kindStart, "sshd")}, &backlog{}, "[host1] sshd: started"},
		{[]item{ev(kindStop, "sshd")}, &backlog{}, "[host1] sshd: stopped"},
		{[]item{b("sshd", "192.0.2.1"), b("sshd", "192.0.2.2"), u("sshd", "192.0.2.3")}, &backlog{}, "[host1] sshd: 2 bans, 1 unban"},
		{[]item{b("sshd", "192.0.2.1"), b("nginx", "192.0.2.2")}, &backlog{}, "[host1] sshd, nginx: 2 bans"},
		{[]item{ev(kindStart, "a"), ev(kindStart, "b"), ev(kindStart, "c"), ev(kindStart, "d")}, &backlog{}, "[host1] 4 pipelines: 4 started"},
		{[]item{b("sshd", "192.0.2.9")}, &held, "[host1] sshd, nginx: 3 bans"},
		{nil, &held, "[host1] nginx: 2 bans"},
		{[]item{b("a\r\nBcc: x@example.org", "192.0.2.9")}, &backlog{}, `[host1] a\x0d\x0aBcc: x@example.org: banned 192.0.2.9`},
		{[]item{b(strings.Repeat("p", 100), "192.0.2.9")}, &backlog{}, "[host1] " + strings.Repeat("p", 64) + "…: banned 192.0.2.9"},
	} {
		if got := m.subject(tc.items, tc.back); got != tc.want {
			t.Errorf("subject %q, want %q", got, tc.want)
		}
	}
}

// What a queued decision keeps of its lines is what its mail shows: the
// last 50, each cut at 1000 bytes, and none past the first 100 decisions.
func TestLinesBounded(t *testing.T) {
	m, err := New(Config{To: []string{"root@example.org"}, From: "l@example.org", SMTP: SMTP{Addr: "127.0.0.1:25", TLS: "none"}, Lines: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := range 60 {
		lines = append(lines, fmt.Sprintf("line %d %s", i, strings.Repeat("x", i*50)))
	}
	for i := range maxDetailed + 1 {
		_ = m.Ban(context.Background(), ban("sshd", fmt.Sprintf("192.0.2.%d", i+1), lines...))
	}
	items, _ := m.take()
	if len(items[0].d.Lines) != maxLines || items[0].lines != 60 || len(items[maxDetailed].d.Lines) != 0 {
		t.Fatalf("kept %d of %d lines; last item kept %d", len(items[0].d.Lines), items[0].lines, len(items[maxDetailed].d.Lines))
	}
	for _, l := range items[0].d.Lines {
		if len(l) > maxLineBytes+1 {
			t.Fatalf("kept a line of %d bytes", len(l))
		}
	}
	p := parse(t, m.compose(context.Background(), items[:1], &backlog{}, false).msg)
	if !strings.Contains(p.Body, "Log lines (the last 50 of 60):\n  line 10 ") || strings.Contains(p.Body, "line 9 ") || !strings.Contains(p.Body, "…[cut]\n") {
		t.Errorf("body:\n%s", p.Body)
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
		{"to, on, batch", Config{To: []string{"not an address"}, From: "root@example.org", Sendmail: []string{"/bin/true"}, On: []string{"ban2"}, Batch: -time.Second},
			[]string{"to", "on", "batch"}},
		{"from, smtp.tls, max_per_hour", Config{To: []string{"root@example.org"}, SMTP: SMTP{Addr: "mail.example.org:587", TLS: "ssl"}, MaxPerHour: -2},
			[]string{"from", "smtp.tls", "max_per_hour"}},
		{"whois_server, sendmail", Config{To: []string{"root@example.org"}, From: "root@example.org", Sendmail: []string{""}, WhoisServer: "a b:c:d"},
			[]string{"sendmail", "whois_server"}},
		{"every smtp key", Config{To: []string{"root@example.org"}, From: "root@example.org",
			SMTP: SMTP{Addr: "bad host", TLS: "ssl", Username: "u", PasswordFile: "/nonexistent/pw", CA: "/nonexistent/ca.pem", Timeout: -time.Second}},
			[]string{"smtp.addr", "smtp.tls", "smtp.timeout", "smtp.password_file", "smtp.ca"}},
		{"smtp username and ca", Config{To: []string{"root@example.org"}, From: "root@example.org",
			SMTP: SMTP{Addr: "mail.example.org", TLS: "none", Username: "u\n", Password: "p", CA: "/etc/ca.pem"}},
			[]string{"smtp.username", "smtp.tls", "smtp.ca"}},
	}
	for _, tc := range cases {
		_, err := New(tc.cfg, nil)
		keys := keyerr.Keys(err)
		if !slices.Equal(keys, tc.keys) {
			t.Errorf("%s: %v: keys %q, want %q", tc.name, err, keys, tc.keys)
		}
	}
}
