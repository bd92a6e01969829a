package pipelines

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/filter"
)

// Validation reads the spec and writes nothing into it: the defaults, the
// looked-up ports and the filter's rules are in the Plan (and the resolved
// Fleet), and the spec stays as written.
func TestResolveLeavesSpecAsWritten(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "logjail.yaml")
	if err := os.WriteFile(cfgFile, []byte(`
fleet:
  nats: {url: "nats://10.0.0.1:4222"}
  node: n1
  share: [sshd]
pipelines:
  sshd:
    enabled: true
    ingest: [{file: {paths: [/var/log/auth.log]}}]
    match: {filter: sshd}
    bantime_increment: {factor: 2}
    enforce:
      - nftables: {ports: [ssh, 2222]}
      - nats: {}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pipelines[0]
	spec, plan := p.Enforce, p.Plan.Enforce
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"spec nftables", *spec[0].NFTables, NFTablesSpec{At: spec[0].NFTables.At, Ports: spec[0].NFTables.Ports}},
		{"spec ports", texts(spec[0].NFTables.Ports), []string{"ssh", "2222"}},
		{"spec nats", spec[1].NATS.URL + spec[1].NATS.Subject, ""},
		{"spec fleet", cfg.FleetSpec.Replicas, 0},
		{"spec increment", p.BanTimeIncrement.Factor.S, "2"},
		{"plan nftables", *plan[0].NFTables, NFTables{Table: "logjail", Protocol: "tcp", Action: "drop", Hooks: []string{"input"}, Ports: []uint16{22, 2222}}},
		{"plan nats", *plan[1].NATS, NATSEvents{NATSConnSpec: NATSConnSpec{URL: "nats://10.0.0.1:4222"}, Subject: "logjail.bans.sshd"}},
		{"plan fleet", *cfg.Fleet, Fleet{NATS: NATSConnSpec{URL: "nats://10.0.0.1:4222"}, Node: "n1", Share: []string{"sshd"}, Replicas: 1}},
		{"plan increment", p.Plan.Increment.Factor, 2.0},
		{"plan rules", len(p.Plan.Rules.Failregex) > 0, true},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, tc.got, tc.want)
		}
	}
}

// Build refuses a pipeline that did not come through Load's resolve step.
func TestBuildNeedsPlan(t *testing.T) {
	if _, err := Build(&Pipeline{Name: "x", Enabled: true}, Deps{Log: discard}); err == nil {
		t.Error("Build without a plan succeeded")
	}
}

// Load reads each filter file once: resolving uses what validation read,
// so a file gone in between changes nothing.
func TestResolveReadsFiltersOnce(t *testing.T) {
	dir := t.TempDir()
	shipped, err := os.ReadFile("filters/vsftpd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	filterFile := testkit.WriteFile(t, dir, "mine.yaml", string(shipped))
	cfgFile := testkit.WriteFile(t, dir, "logjail.yaml", "pipelines:\n  ftp:\n    enabled: true\n    ingest: [{file: {paths: [/var/log/vsftpd.log]}}]\n    match: {filter: "+filterFile+"}\n")
	cfg, err := Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	want := cfg.Pipelines[0].Plan.Rules
	v := newValidator(&decoder{}, dir)
	v.config(cfg)
	if len(v.errs) > 0 {
		t.Fatal(v.errs)
	}
	if err := os.Remove(filterFile); err != nil {
		t.Fatal(err)
	}
	if err := v.resolve(cfg); err != nil {
		t.Fatalf("resolve read the filter file again: %v", err)
	}
	if got := cfg.Pipelines[0].Plan.Rules; len(got.Failregex) == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("rules %+v, want %+v", got, want)
	}
}

// A filter file's maxlines reaches the rules, and its matcher reads the
// lines together; a negative one is refused.
func TestFilterFileMaxLines(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "filters"), 0o755); err != nil {
		t.Fatal(err)
	}
	testkit.WriteFile(t, dir, "filters/two.yaml", "maxlines: 2\nfailregex: ['^login started\\nlogin from <HOST> refused$']\n")
	testkit.WriteFile(t, dir, "filters/bad.yaml", "maxlines: -1\nfailregex: ['^login from <HOST> refused$']\n")
	cfgFile := testkit.WriteFile(t, dir, "logjail.yaml", "pipelines:\n  app:\n    enabled: true\n    ingest: [{file: {paths: [/var/log/app.log]}}]\n    match: {filter: two}\n")
	cfg, err := Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	rules := cfg.Pipelines[0].Plan.Rules
	if rules.MaxLines != 2 {
		t.Fatalf("maxlines %d", rules.MaxLines)
	}
	m, err := filter.Compile("app", rules)
	if err != nil {
		t.Fatal(err)
	}
	var got []match.Outcome
	for _, l := range []string{"login started", "login from 192.0.2.1 refused"} {
		e := ingest.Entry{Message: l, ReadAt: time.Now()}
		_, out := m.Match(&e, time.Now())
		got = append(got, out)
	}
	if !slices.Equal(got, []match.Outcome{match.Miss, match.Matched}) {
		t.Errorf("outcomes %v", got)
	}
	testkit.WriteFile(t, dir, "logjail.yaml", "pipelines:\n  app:\n    enabled: true\n    ingest: [{file: {paths: [/var/log/app.log]}}]\n    match: {filter: bad}\n")
	if _, err := Load(cfgFile); err == nil || !strings.Contains(err.Error(), "maxlines -1") {
		t.Errorf("maxlines -1: %v", err)
	}
}
