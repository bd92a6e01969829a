package pipelines

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fail2banDir copies the installed /etc/fail2ban into a temporary
// directory and lays testdata/fail2ban/jail.local over it.
func fail2banDir(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/etc/fail2ban/jail.conf"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("/etc/fail2ban is missing (apt-get install fail2ban)")
		}
		t.Skip("/etc/fail2ban is missing")
	}
	dir := filepath.Join(t.TempDir(), "fail2ban")
	if out, err := exec.Command("cp", "-r", "/etc/fail2ban", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	local, err := os.ReadFile("testdata/fail2ban/jail.local")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jail.local"), local, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestImportFail2ban(t *testing.T) {
	dir := fail2banDir(t)
	text, warnings, err := ImportFail2ban(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "imported.yaml")
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(cfgPath)
	if err != nil {
		t.Fatalf("the imported configuration does not load: %v\n%s", err, text)
	}
	byName := map[string]*Pipeline{}
	for _, p := range cfg.Enabled() {
		byName[p.Name] = p
	}

	sshd := byName["sshd"]
	if sshd == nil {
		t.Fatalf("no sshd pipeline:\n%s", text)
	}
	if sshd.Ingest[0].Journald == nil || len(sshd.JournalMatch) == 0 {
		t.Errorf("sshd with backend systemd: want a journald source with the filter's journalmatch, got %+v", sshd.Ingest[0])
	}
	if sshd.MaxRetry != 5 || FormatDuration(DurationOf(sshd.FindTime)) != "1d" || FormatDuration(DurationOf(sshd.BanTime)) != "2w" {
		t.Errorf("sshd policy: %d %v %v", sshd.MaxRetry, DurationOf(sshd.FindTime), DurationOf(sshd.BanTime))
	}
	if len(sshd.IgnoreIP) != 1 || netipString(sshd.IgnoreIP[0]) != "127.0.0.0/8" {
		t.Errorf("sshd ignoreip %v", sshd.IgnoreIP)
	}
	if n := sshd.Enforce[0].NFTables; n == nil || len(n.PortNumbers) != 1 || n.PortNumbers[0] != 22 {
		t.Errorf("sshd enforce %+v", sshd.Enforce[0].NFTables)
	}

	web := byName["nginx-http-auth"]
	if web == nil || web.Ingest[0].File == nil || web.Ingest[0].File.Paths[0] != "/var/log/nginx/error.log" {
		t.Fatalf("nginx-http-auth: %+v", web)
	}
	if n := web.Enforce[0].NFTables; len(n.PortNumbers) != 2 || n.PortNumbers[0] != 80 || n.PortNumbers[1] != 443 {
		t.Errorf("nginx-http-auth ports %v", n.PortNumbers)
	}
	if len(web.IgnoreIP) != 3 {
		t.Errorf("nginx-http-auth inherits DEFAULT's ignoreip: %v", web.IgnoreIP)
	}

	custom := byName["custom"]
	if custom == nil || custom.MaxRetry != 3 || DurationOf(custom.BanTime) != Permanent {
		t.Fatalf("custom: %+v", custom)
	}
	if !strings.Contains(text, `fail2ban: "`+dir+`/filter.d/sshd.conf[mode=aggressive]"`) {
		t.Errorf("custom's filter argument is lost:\n%s", text)
	}
	if n := custom.Enforce[0].NFTables; len(n.PortNumbers) != 3 || n.PortNumbers[0] != 2200 {
		t.Errorf("custom ports %v", n.PortNumbers)
	}

	// Mail actions: action_mwl with jail.conf's destemail and sender (the
	// latter's <fq-hostname> filled in), action_mw through mail(1) to two
	// recipients, and actions named directly with their arguments.
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		jail        string
		to          []string
		from        string
		whois, line bool
	}{
		{"postfix-sasl", []string{"root@localhost"}, "root@" + host, true, true},
		{"dovecot", []string{"ops@example.org", "security@example.org"}, "logjail@example.org", true, false},
		{"vsftpd", []string{"ftp-admin@example.org"}, "Fail2Ban <fail2ban@" + host + ">", true, true},
	} {
		p := byName[tc.jail]
		if p == nil {
			t.Errorf("no %s pipeline:\n%s", tc.jail, text)
			continue
		}
		var mails []*MailSpec
		for _, e := range p.Enforce {
			if e.Mail != nil {
				mails = append(mails, e.Mail)
			}
		}
		if len(mails) != 1 || p.Enforce[0].NFTables == nil {
			t.Errorf("%s: want nftables and one mail enforcer, got %+v", tc.jail, p.Enforce)
			continue
		}
		m := mails[0]
		if !slices.Equal(m.To, tc.to) || m.From != tc.from || m.Whois != tc.whois || m.Lines != tc.line {
			t.Errorf("%s: mail to %q from %q whois %v lines %v; want %q %q %v %v", tc.jail, m.To, m.From, m.Whois, m.Lines, tc.to, tc.from, tc.whois, tc.line)
		}
		if m.SMTP.Addr != "localhost:25" || m.SMTP.TLS != "none" || len(m.Sendmail) != 0 {
			t.Errorf("%s: mail transport %+v %q, want the SMTP server on localhost:25 without TLS", tc.jail, m.SMTP, m.Sendmail)
		}
		if _, err := m.Build(nil); err != nil {
			t.Errorf("%s: %v", tc.jail, err)
		}
	}
	for _, p := range []*Pipeline{sshd, web, custom} {
		for _, e := range p.Enforce {
			if e.Mail != nil {
				t.Errorf("%s has a mail enforcer, but no mail action", p.Name)
			}
		}
	}

	// bantime.increment, ignoreself and ignorecommand are imported.
	if inc := sshd.BanTimeIncrement; inc == nil || inc.Resolved.Factor != 2 || inc.Resolved.MaxTime != 5*7*24*time.Hour || !inc.Resolved.OverallJails {
		t.Errorf("sshd bantime_increment %+v", sshd.BanTimeIncrement)
	}
	if web := byName["nginx-http-auth"]; web == nil || web.BanTimeIncrement == nil || !slices.Equal(web.BanTimeIncrement.Resolved.Multipliers, []float64{1, 2, 4, 8}) || web.IgnoreSelf == nil || *web.IgnoreSelf {
		t.Errorf("nginx-http-auth: increment and ignoreself not imported:\n%s", text)
	}
	if c := byName["custom"]; c == nil || c.IgnoreCommand.S != "/bin/true" || c.BanTimeIncrement == nil {
		t.Errorf("custom: ignorecommand not imported:\n%s", text)
	}
	all := strings.Join(warnings, "\n")
	for _, unwanted := range []string{"bantime.increment", "ignorecommand", "ignoreself"} {
		if strings.Contains(all, unwanted) {
			t.Errorf("warned about %s, which is imported:\n%s", unwanted, all)
		}
	}
	if strings.Contains(all, "jail postfix-sasl: action") || strings.Contains(all, "mail-whois-lines") {
		t.Errorf("a translated mail action is warned about:\n%s", all)
	}
	for _, want := range []string{
		"jail dovecot: action",
		"sendmail-buffered: this mail action is not translated",
		"jail vsftpd: action",
		`mail-whois: mail: to[0]: "<broken"`,
		`jail custom: banaction`,
		`"ufw": translated to logjail's nftables enforcer`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
}

func netipString(p Prefix) string { return p.String() }

// Every key of a mail enforcer reaches enforce/mail.Config (kept here
// beside the importer, which writes such blocks).
func TestMailSpecKeys(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "mail.yaml")
	if err := os.WriteFile(cfgPath, []byte(`
pipelines:
  sshd:
    enabled: true
    ingest: [{file: {paths: [/var/log/auth.log]}}]
    match: {filter: sshd}
    enforce:
      - mail:
          to: root@example.org
          from: "logjail <logjail@example.org>"
          smtp: {addr: "mail.example.org:2525", tls: starttls, username: u, password_file: `+pw+`, timeout: 20s}
          whois: true
          whois_server: whois.example.org
          lines: true
          on: [ban, unban, start, stop]
          batch: 2m
          max_per_hour: -1
          subject_prefix: "[host1]"
      - mail: {to: [a@example.org, b@example.org], from: x@example.org, sendmail: [/bin/cat, -t]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Pipelines[0].Enforce
	got := e[0].Mail.Config()
	want := "{To:[root@example.org] From:logjail <logjail@example.org> SMTP:{Addr:mail.example.org:2525 TLS:starttls Username:u Password: PasswordFile:" + pw +
		" CA: Timeout:20s} Sendmail:[] Whois:true WhoisServer:whois.example.org Lines:true On:[ban unban start stop] Batch:2m0s MaxPerHour:-1 SubjectPrefix:[host1]}"
	if s := fmt.Sprintf("%+v", got); s != want {
		t.Errorf("mail config\n got %s\nwant %s", s, want)
	}
	if got := e[1].Mail.Config(); !slices.Equal(got.To, []string{"a@example.org", "b@example.org"}) || !slices.Equal(got.Sendmail, []string{"/bin/cat", "-t"}) {
		t.Errorf("second mail config %+v", got)
	}
	if _, err := e[1].Mail.Build(nil); err != nil {
		t.Error(err)
	}
}
