package fail2banimport

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/logjail/logjail/enforce/mail"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/pipelines"
)

// fail2banDir copies the installed /etc/fail2ban into a temporary
// directory and lays testdata/jail.local over it.
func fail2banDir(t *testing.T) string {
	t.Helper()
	testkit.NeedFile(t, "/etc/fail2ban/jail.conf", "fail2ban")
	dir := filepath.Join(t.TempDir(), "fail2ban")
	if out, err := exec.Command("cp", "-r", "/etc/fail2ban", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	local, err := os.ReadFile("testdata/jail.local")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jail.local"), local, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestImport(t *testing.T) {
	dir := fail2banDir(t)
	text, warnings, err := Import(dir)
	if err != nil {
		t.Fatal(err)
	}
	byName := loadImported(t, text)
	checkImportedJails(t, dir, text, byName)
	checkImportedMail(t, text, byName)
	checkImportedExtras(t, text, byName)
	checkImportWarnings(t, warnings)
}

// loadImported loads the imported YAML and indexes its enabled pipelines
// by name.
func loadImported(t *testing.T, text string) map[string]*pipelines.Pipeline {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "imported.yaml")
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := pipelines.Load(cfgPath)
	if err != nil {
		t.Fatalf("the imported configuration does not load: %v\n%s", err, text)
	}
	byName := map[string]*pipelines.Pipeline{}
	for _, p := range cfg.Enabled() {
		byName[p.Name] = p
	}
	return byName
}

// checkImportedJails checks the policy, sources and ports of sshd,
// nginx-http-auth and custom.
func checkImportedJails(t *testing.T, dir, text string, byName map[string]*pipelines.Pipeline) {
	t.Helper()
	sshd := byName["sshd"]
	if sshd == nil {
		t.Fatalf("no sshd pipeline:\n%s", text)
	}
	if sshd.Ingest[0].Journald == nil || len(sshd.Plan.JournalMatch) == 0 {
		t.Errorf("sshd with backend systemd: want a journald source with the filter's journalmatch, got %+v", sshd.Ingest[0])
	}
	if sshd.MaxRetry != 5 || pipelines.FormatDuration(pipelines.DurationOf(sshd.FindTime)) != "1d" || pipelines.FormatDuration(pipelines.DurationOf(sshd.BanTime)) != "2w" {
		t.Errorf("sshd policy: %d %v %v", sshd.MaxRetry, pipelines.DurationOf(sshd.FindTime), pipelines.DurationOf(sshd.BanTime))
	}
	if len(sshd.IgnoreIP) != 1 || netipString(sshd.IgnoreIP[0]) != "127.0.0.0/8" {
		t.Errorf("sshd ignoreip %v", sshd.IgnoreIP)
	}
	if n := sshd.Plan.Enforce[0].NFTables; n == nil || len(n.Ports) != 1 || n.Ports[0] != 22 {
		t.Errorf("sshd enforce %+v", sshd.Plan.Enforce[0].NFTables)
	}

	web := byName["nginx-http-auth"]
	if web == nil || web.Ingest[0].File == nil || web.Ingest[0].File.Paths[0] != "/var/log/nginx/error.log" {
		t.Fatalf("nginx-http-auth: %+v", web)
	}
	if n := web.Plan.Enforce[0].NFTables; len(n.Ports) != 2 || n.Ports[0] != 80 || n.Ports[1] != 443 {
		t.Errorf("nginx-http-auth ports %v", n.Ports)
	}
	if len(web.IgnoreIP) != 3 {
		t.Errorf("nginx-http-auth inherits DEFAULT's ignoreip: %v", web.IgnoreIP)
	}

	custom := byName["custom"]
	if custom == nil || custom.MaxRetry != 3 || pipelines.DurationOf(custom.BanTime) != pipelines.Permanent {
		t.Fatalf("custom: %+v", custom)
	}
	if custom.Match.Filter.S != "sshd" || custom.Match.Mode.S != "aggressive" {
		t.Errorf("custom's filter sshd[mode=aggressive] is imported as %q mode %q:\n%s", custom.Match.Filter.S, custom.Match.Mode.S, text)
	}
	if n := custom.Plan.Enforce[0].NFTables; len(n.Ports) != 3 || n.Ports[0] != 2200 {
		t.Errorf("custom ports %v", n.Ports)
	}
}

// checkImportedMail checks the mail enforcers, and that jails without a
// mail action get none.
func checkImportedMail(t *testing.T, text string, byName map[string]*pipelines.Pipeline) {
	t.Helper()
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
		var mails []*pipelines.MailSpec
		for _, e := range p.Enforce {
			if e.Mail != nil {
				mails = append(mails, e.Mail)
			}
		}
		if len(mails) != 1 || p.Plan.Enforce[0].NFTables == nil {
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
		if err := mail.Validate(m.Config()); err != nil {
			t.Errorf("%s: %v", tc.jail, err)
		}
	}
	for _, name := range []string{"sshd", "nginx-http-auth", "custom"} {
		p := byName[name]
		for _, e := range p.Enforce {
			if e.Mail != nil {
				t.Errorf("%s has a mail enforcer, but no mail action", p.Name)
			}
		}
	}
}

// checkImportedExtras checks that bantime.increment, ignoreself and
// ignorecommand are imported.
func checkImportedExtras(t *testing.T, text string, byName map[string]*pipelines.Pipeline) {
	t.Helper()
	sshd := byName["sshd"]
	if inc := sshd.Plan.Increment; inc == nil || inc.Factor != 2 || inc.MaxTime != 5*7*24*time.Hour || !inc.OverallJails {
		t.Errorf("sshd bantime_increment %+v", sshd.Plan.Increment)
	}
	if web := byName["nginx-http-auth"]; web == nil || web.Plan.Increment == nil || !slices.Equal(web.Plan.Increment.Multipliers, []float64{1, 2, 4, 8}) || web.IgnoreSelf == nil || *web.IgnoreSelf {
		t.Errorf("nginx-http-auth: increment and ignoreself not imported:\n%s", text)
	}
	if c := byName["custom"]; c == nil || c.IgnoreCommand.S != "/bin/true" || c.BanTimeIncrement == nil {
		t.Errorf("custom: ignorecommand not imported:\n%s", text)
	}
}

// checkImportWarnings checks that what is imported is not warned about
// and what is not is.
func checkImportWarnings(t *testing.T, warnings []string) {
	t.Helper()
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

func netipString(p pipelines.Prefix) string { return netip.Prefix(p).String() }

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
	cfg, err := pipelines.Load(cfgPath)
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
	if err := mail.Validate(e[1].Mail.Config()); err != nil {
		t.Error(err)
	}
}

// imported is one import of a fixture: the YAML, its warnings, and the
// configuration as pipelines.Load reads it.
type imported struct {
	dir      string // the fail2ban directory, absolute
	text     string
	warnings []string
	cfg      *pipelines.Config
	doc      map[string]any // the YAML as plain data, to see which keys are written
}

func (im *imported) pipeline(t *testing.T, name string) *pipelines.Pipeline {
	t.Helper()
	for _, p := range im.cfg.Pipelines {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no pipeline %s:\n%s", name, im.text)
	return nil
}

// keys lists the keys written for a pipeline (or "defaults").
func (im *imported) keys(name string) []string {
	m, _ := im.doc["defaults"].(map[string]any)
	if name != "defaults" {
		ps, _ := im.doc["pipelines"].(map[string]any)
		m, _ = ps[name].(map[string]any)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// warned lists the warnings that contain s.
func (im *imported) warned(s string) []string {
	var out []string
	for _, w := range im.warnings {
		if strings.Contains(w, s) {
			out = append(out, w)
		}
	}
	return out
}

// importFixture copies the installed /etc/fail2ban to ROOT/etc/fail2ban,
// lays testdata/cases/FIXTURE over it as jail.local (with vars
// replaced), imports it as `logjail import-fail2ban fail2ban` run in
// ROOT/etc would, writes the YAML to ROOT/out, and loads it as `logjail
// validate --config ../out/imported.yaml` run in ROOT/elsewhere would:
// a relative DIR, another folder for the YAML, another working directory.
func importFixture(t *testing.T, fixture string, vars map[string]string) *imported {
	t.Helper()
	dir := fail2banDir(t)
	local, err := os.ReadFile(filepath.Join("testdata/cases", fixture))
	if err != nil {
		t.Fatal(err)
	}
	text := string(local)
	for k, v := range vars {
		text = strings.ReplaceAll(text, k, v)
	}
	if err := os.WriteFile(filepath.Join(dir, "jail.local"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(dir)
	etc := filepath.Join(root, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, filepath.Join(etc, "fail2ban")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"out", "elsewhere"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(etc)
	yamlText, warnings, err := Import("fail2ban")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "out", "imported.yaml"), []byte(yamlText), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Join(root, "elsewhere"))
	cfg, err := pipelines.Load("../out/imported.yaml")
	if err != nil {
		t.Fatalf("the imported configuration does not load from another folder: %v\n%s", err, yamlText)
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(yamlText), &doc); err != nil {
		t.Fatal(err)
	}
	return &imported{dir: filepath.Join(etc, "fail2ban"), text: yamlText, warnings: warnings, cfg: cfg, doc: doc}
}

// What import-fail2ban writes means what the jails mean, wherever the YAML
// is read from: each case is a jail.local in testdata/cases.
func TestImportFail2banCases(t *testing.T) {
	tests := []struct {
		name, fixture string
		check         func(t *testing.T, im *imported, journals string)
	}{
		{name: "relative dir", fixture: "recidive.local", check: checkAbsolutePaths},
		{name: "journal arguments", fixture: "journal.local", check: checkJournalArguments},
		{name: "recidive", fixture: "recidive.local", check: checkRecidive},
		{name: "recidive alone", fixture: "recidive-alone.local", check: checkRecidiveAlone},
		{name: "defaults", fixture: "defaults.local", check: checkDefaults},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			journals := t.TempDir()
			for _, f := range []string{"a.journal", "b.journal"} {
				if err := os.WriteFile(filepath.Join(journals, f), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			im := importFixture(t, tt.fixture, map[string]string{"@JOURNALS@": journals})
			tt.check(t, im, journals)
		})
	}
}

// checkAbsolutePaths: paths in the YAML are absolute although DIR was
// relative.
func checkAbsolutePaths(t *testing.T, im *imported, _ string) {
	if strings.Contains(im.text, `"fail2ban/`) {
		t.Errorf("a path relative to the folder the import ran in:\n%s", im.text)
	}
	if !strings.Contains(im.text, "# Imported from "+im.dir+" ") {
		t.Errorf("the header does not name %s:\n%s", im.dir, im.text)
	}
}

// journalCase is a jail of testdata/cases/journal.local and the journald
// source and backend warnings it should import to.
type journalCase struct {
	jail       string
	files      []string
	dir, ns    string
	warnings   []string // parts of the jail's backend warnings, in order
	noWarnings bool
}

func checkJournalArguments(t *testing.T, im *imported, journals string) {
	a, b := filepath.Join(journals, "a.journal"), filepath.Join(journals, "b.journal")
	for _, tc := range []journalCase{
		{jail: "j-files", files: []string{a, b}, noWarnings: true},
		{jail: "j-glob", files: []string{a, b}, warnings: []string{`"` + journals + `/*.journal" is expanded now to 2 files`}},
		{jail: "j-path", dir: journals, noWarnings: true},
		{jail: "j-namespace", ns: "web", noWarnings: true},
		{jail: "j-flags", warnings: []string{"journalflags=1 is not translated"}},
		{jail: "j-both", files: []string{a}, warnings: []string{"not both; journalfiles is used"}},
		{jail: "j-unknown", warnings: []string{"nosuch-*.journal\" matches no file now", "no journal file left; the system journal is read", `rotated="yes" is not translated`}},
		{jail: "j-plain", noWarnings: true},
	} {
		checkJournalCase(t, im, tc)
	}
}

func checkJournalCase(t *testing.T, im *imported, tc journalCase) {
	t.Helper()
	p := im.pipeline(t, tc.jail)
	if len(p.Ingest) != 1 || p.Ingest[0].Journald == nil {
		t.Errorf("%s: want one journald source, got %+v", tc.jail, p.Ingest)
		return
	}
	j := p.Ingest[0].Journald
	if !slices.Equal(j.Files, tc.files) || j.Directory != tc.dir || j.Namespace != tc.ns {
		t.Errorf("%s: files %q directory %q namespace %q; want %q %q %q", tc.jail, j.Files, j.Directory, j.Namespace, tc.files, tc.dir, tc.ns)
	}
	if len(j.Match) == 0 {
		t.Errorf("%s: the filter's journalmatch is lost", tc.jail)
	}
	got := im.warned("jail " + tc.jail + ": backend")
	if tc.noWarnings && len(got) > 0 {
		t.Errorf("%s: unexpected warnings %q", tc.jail, got)
	}
	if len(got) != len(tc.warnings) && !tc.noWarnings {
		t.Errorf("%s: warnings %q, want %d", tc.jail, got, len(tc.warnings))
		return
	}
	for i, w := range tc.warnings {
		if !strings.Contains(got[i], w) {
			t.Errorf("%s: warning %q lacks %q", tc.jail, got[i], w)
		}
	}
}

func checkRecidive(t *testing.T, im *imported, _ string) {
	r := im.pipeline(t, "recidive")
	if len(r.Ingest) != 1 || r.Ingest[0].Bans == nil || !slices.Equal(r.Ingest[0].Bans.Pipelines, []string{"sshd", "nginx-http-auth"}) {
		t.Errorf("recidive: want a bans source following sshd and nginx-http-auth, got %+v\n%s", r.Ingest, im.text)
	}
	if r.Match.Filter.S != "recidive" || r.Match.Fail2ban.S != "" || len(r.Plan.Rules.Failregex) == 0 {
		t.Errorf("recidive: want the shipped recidive filter, got %+v", r.Match)
	}
	if r.MaxRetry != 3 || pipelines.FormatDuration(pipelines.DurationOf(r.FindTime)) != "1d" || pipelines.FormatDuration(pipelines.DurationOf(r.BanTime)) != "1w" {
		t.Errorf("recidive policy: %d %v %v", r.MaxRetry, pipelines.DurationOf(r.FindTime), pipelines.DurationOf(r.BanTime))
	}
	if n := r.Plan.Enforce[0].NFTables; n == nil || len(n.Ports) != 0 {
		t.Errorf("recidive: want every port banned, got %+v", r.Plan.Enforce[0].NFTables)
	}
	if strings.Contains(im.text, "fail2ban.log") {
		t.Errorf("fail2ban's log is still read:\n%s", im.text)
	}
	if w := im.warned("recidive"); len(w) > 0 {
		t.Errorf("warnings about recidive: %q", w)
	}
}

func checkRecidiveAlone(t *testing.T, im *imported, _ string) {
	if len(im.cfg.Pipelines) != 0 {
		t.Errorf("want no pipeline, got:\n%s", im.text)
	}
	if w := im.warned("jail recidive:"); len(w) != 1 || !strings.Contains(w[0], "no bans to follow; skipped") {
		t.Errorf("warnings %q", im.warnings)
	}
}

func checkDefaults(t *testing.T, im *imported, _ string) {
	checkDefaultWarnings(t, im)
	checkDefaultKeys(t, im)
	checkDefaultPolicies(t, im)
}

// checkDefaultWarnings: each [DEFAULT] warning once, naming [DEFAULT],
// where it is set and the jails it concerns.
func checkDefaultWarnings(t *testing.T, im *imported) {
	jailLocal := filepath.Join(im.dir, "jail.local")
	for _, want := range []string{
		`[DEFAULT] ignoreip (` + jailLocal + `:8): "trusted.example.org" is neither an address, a CIDR nor a host name that resolves here; left out (jails sshd, nginx-http-auth)`,
		`[DEFAULT] banaction (` + jailLocal + `:9): "ufw": translated to logjail's nftables enforcer (jails sshd, nginx-http-auth, vsftpd, dovecot)`,
		`[DEFAULT] ignoreregex (` + jailLocal + `:10): set for the jail; logjail reads the filter file only, so this override is not imported (jails sshd, nginx-http-auth, vsftpd, dovecot)`,
	} {
		if !slices.Contains(im.warnings, want) {
			t.Errorf("warnings lack\n%s\ngot:\n%s", want, strings.Join(im.warnings, "\n"))
		}
	}
	for _, s := range []string{"trusted.example.org", "ufw", "ignoreregex"} {
		if n := len(im.warned(s)); n != 1 {
			t.Errorf("%d warnings about %s, want 1:\n%s", n, s, strings.Join(im.warnings, "\n"))
		}
	}
}

// checkDefaultKeys: [DEFAULT] in defaults; a pipeline only says what
// differs.
func checkDefaultKeys(t *testing.T, im *imported) {
	for name, want := range map[string][]string{
		"defaults":        {"bantime", "bantime_increment", "findtime", "ignoreip", "maxretry"},
		"sshd":            {"enabled", "enforce", "ingest", "match"},
		"nginx-http-auth": {"bantime", "enabled", "enforce", "ingest", "match"},
		"dovecot":         {"enabled", "enforce", "ignoreip", "ingest", "match"},
		"vsftpd":          {"bantime_increment", "enabled", "enforce", "ignoreip", "ingest", "match"},
	} {
		if got := im.keys(name); !slices.Equal(got, want) {
			t.Errorf("%s: keys %q, want %q\n%s", name, got, want, im.text)
		}
	}
}

// checkDefaultPolicies: every jail ends up with [DEFAULT]'s policy where
// it sets none of its own.
func checkDefaultPolicies(t *testing.T, im *imported) {
	for _, tc := range []struct {
		jail     string
		maxretry int
		findtime time.Duration
		bantime  time.Duration
		ignoreip []string
		increase bool
	}{
		{"sshd", 4, 30 * time.Minute, time.Hour, []string{"127.0.0.0/8", "::1/128"}, true},
		{"nginx-http-auth", 4, 30 * time.Minute, 2 * time.Hour, []string{"127.0.0.0/8", "::1/128"}, true},
		{"dovecot", 4, 30 * time.Minute, time.Hour, []string{"10.0.0.0/8"}, true},
		{"vsftpd", 4, 30 * time.Minute, time.Hour, nil, false},
	} {
		p := im.pipeline(t, tc.jail)
		var ignore []string
		for _, ip := range p.IgnoreIP {
			ignore = append(ignore, netipString(ip))
		}
		if p.MaxRetry != tc.maxretry || pipelines.DurationOf(p.FindTime) != tc.findtime || pipelines.DurationOf(p.BanTime) != tc.bantime || !slices.Equal(ignore, tc.ignoreip) || (p.BanTimeIncrement != nil) != tc.increase {
			t.Errorf("%s: maxretry %d findtime %v bantime %v ignoreip %q increment %v; want %d %v %v %q %v", tc.jail,
				p.MaxRetry, pipelines.DurationOf(p.FindTime), pipelines.DurationOf(p.BanTime), ignore, p.BanTimeIncrement != nil, tc.maxretry, tc.findtime, tc.bantime, tc.ignoreip, tc.increase)
		}
	}
}

// A host name in ignoreip is kept when it resolves here (pipelines.Load resolves it,
// as fail2ban does); one that does not is left out with a warning.
func TestImportKeepsResolvableHostNames(t *testing.T) {
	for name, want := range map[string]bool{"localhost": true, "trusted.example.invalid": false, "10.0.0.0/33": false, "a|b": false} {
		if got := pipelines.HostResolves(name); got != want {
			t.Errorf("HostResolves(%q) = %v, want %v", name, got, want)
		}
	}
}
