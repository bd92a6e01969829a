package pipelines

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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

	all := strings.Join(warnings, "\n")
	for _, want := range []string{
		"jail postfix-sasl: action",
		"mail actions are not supported yet",
		"jail sshd: bantime.increment",
		`jail custom: banaction`,
		`"ufw": translated to logjail's nftables enforcer`,
		"jail custom: ignorecommand",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
}

func netipString(p Prefix) string { return p.String() }
