package pipelines

import (
	"bufio"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/state"
)

// Each file in testdata/invalid declares the exact errors it must produce in
// "# wantErr:" lines, paths relative to testdata/invalid.
func TestInvalidConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no invalid configs")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var want []string
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(fh)
			for sc.Scan() {
				if w, ok := strings.CutPrefix(sc.Text(), "# wantErr: "); ok {
					// @SHIPPED@: the number of shipped filters, which grows.
					w = strings.ReplaceAll(w, "@SHIPPED@", strconv.Itoa(len(ShippedFilters())))
					want = append(want, "testdata/invalid/"+w)
				}
			}
			fh.Close()
			if len(want) == 0 {
				t.Fatal("no # wantErr line")
			}
			_, err = Load(f)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			got := strings.Split(err.Error(), "\n")
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("errors:\n got: %q\nwant: %q", got, want)
			}
		})
	}
}

func TestShippedConfigLoads(t *testing.T) {
	cfg, err := Load("logjail.yaml")
	if err != nil {
		t.Fatal(err)
	}
	enabled := cfg.Enabled()
	if len(enabled) != 1 || enabled[0].Name != "sshd" {
		t.Fatalf("enabled pipelines: %+v", enabled)
	}
	p := enabled[0]
	if p.MaxRetry != 5 || time.Duration(p.FindTime) != 10*time.Minute || time.Duration(p.BanTime) != time.Hour {
		t.Errorf("sshd policy: maxretry %d findtime %v bantime %v", p.MaxRetry, time.Duration(p.FindTime), time.Duration(p.BanTime))
	}
	if n := p.Plan.Enforce[0].NFTables; n == nil || !slices.Equal(n.Ports, []uint16{22}) || n.Table != "logjail" || n.Action != "drop" {
		t.Errorf("sshd enforce: %+v", p.Plan.Enforce[0].NFTables)
	}
	if len(p.Plan.Rules.Failregex) == 0 {
		t.Error("sshd rules not resolved")
	}
}

func TestDirectoryMergesPerKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("00-base.yaml", `
defaults:
  bantime: 1h
  maxretry: 4
pipelines:
  sshd:
    ingest: [{file: {paths: [/var/log/auth.log]}}]
    match: {filter: sshd}
    findtime: 1d
  web:
    ingest: [{file: {paths: [/var/log/web.log]}}]
    match: {failregex: ['^denied <ADDR>$']}
`)
	write("10-local.yaml", `
defaults:
  maxretry: 3
pipelines:
  sshd:
    enabled: true
    bantime: 2w
    ignoreip: [192.0.2.0/24, "2001:db8::/32", "::ffff:198.51.100.7"]
`)
	cfg, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Files) != 2 || len(cfg.Pipelines) != 2 {
		t.Fatalf("files %v pipelines %d", cfg.Files, len(cfg.Pipelines))
	}
	sshd, web := cfg.Pipelines[0], cfg.Pipelines[1]
	if !sshd.Enabled || web.Enabled {
		t.Errorf("enabled: sshd %v web %v", sshd.Enabled, web.Enabled)
	}
	if sshd.MaxRetry != 3 || time.Duration(sshd.FindTime) != 24*time.Hour || time.Duration(sshd.BanTime) != 14*24*time.Hour {
		t.Errorf("sshd: maxretry %d findtime %v bantime %v", sshd.MaxRetry, time.Duration(sshd.FindTime), time.Duration(sshd.BanTime))
	}
	if time.Duration(web.BanTime) != time.Hour {
		t.Errorf("web bantime %v, want the default 1h", time.Duration(web.BanTime))
	}
	var got []string
	for _, p := range sshd.IgnoreIP {
		got = append(got, Prefix(p).String())
	}
	if want := []string{"192.0.2.0/24", "2001:db8::/32", "198.51.100.7/32"}; !slices.Equal(got, want) {
		t.Errorf("ignoreip %v, want %v", got, want)
	}
}

func (p Prefix) String() string { return netip.Prefix(p).String() }

func TestParseDuration(t *testing.T) {
	const d = 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "600", want: 10 * time.Minute},
		{in: "30s", want: 30 * time.Second},
		{in: "200ms", want: 200 * time.Millisecond},
		{in: "10m", want: 10 * time.Minute},
		{in: "1h", want: time.Hour},
		{in: "1d", want: d},
		{in: "2w", want: 14 * d},
		{in: "1mo", want: time.Duration(365.25 * float64(d) / 12)},
		{in: "1y", want: time.Duration(365.25 * float64(d))},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "1d 12h", want: 36 * time.Hour},
		{in: "1y-6mo", want: time.Duration(365.25 * float64(d) / 2)},
		{in: "1.5h", want: 90 * time.Minute},
		{in: "2 weeks", want: 14 * d},
		{in: "-1", want: Permanent},
		{in: "permanent", want: Permanent}, // as FormatDuration writes it
		{in: "", err: true},
		{in: "10x", err: true},
		{in: "h", err: true},
		{in: "0", err: true},
		{in: "-5m", err: true},
		{in: "1000y", err: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if tc.err {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestParseFilterRef(t *testing.T) {
	for _, tc := range []struct {
		in   string
		name string
		args map[string]string
		err  bool
	}{
		{in: "sshd", name: "sshd", args: map[string]string{}},
		{in: "sshd[mode=aggressive]", name: "sshd", args: map[string]string{"mode": "aggressive"}},
		{in: "./f.yaml[mode=normal, x='y']", name: "./f.yaml", args: map[string]string{"mode": "normal", "x": "y"}},
		{in: "sshd[mode]", err: true},
		{in: "sshd[", err: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseFilterRef(tc.in)
			if tc.err {
				if err == nil {
					t.Fatalf("got %+v, want an error", r)
				}
				return
			}
			if err != nil || r.Name != tc.name || len(r.Args) != len(tc.args) {
				t.Fatalf("got %+v, %v", r, err)
			}
			for k, v := range tc.args {
				if r.Args[k] != v {
					t.Errorf("arg %s = %q, want %q", k, r.Args[k], v)
				}
			}
		})
	}
}

func TestLoadErrorsAreTyped(t *testing.T) {
	_, err := Load("testdata/invalid/bad-cidr.yaml")
	var ce *Error
	if !errors.As(err, &ce) || ce.At.Line != 7 {
		t.Fatalf("want a *Error at line 7, got %v", err)
	}
}

// The example configurations load merged with the shipped one, as their
// comments tell users to install them.
func TestExamplesLoad(t *testing.T) {
	files, _ := filepath.Glob("examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	base, err := os.ReadFile("logjail.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		dir := t.TempDir()
		ex, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "00-logjail.yaml"), base, 0o600)
		os.WriteFile(filepath.Join(dir, "10-"+filepath.Base(f)), ex, 0o600)
		if _, err := Load(dir); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// The state keys reach the tracker's policy: prefixes, bantime_increment
// (from defaults, replaced or switched off per pipeline) and dbpurgeage.
func TestPolicyStateKeys(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "logjail.yaml")
	if err := os.WriteFile(cfgFile, []byte(`
defaults:
  ipv6_prefix: 64
  bantime_increment: {factor: 2, maxtime: 5w, rndtime: 10m}
pipelines:
  plain:
    ingest: [{file: {paths: [/var/log/a.log]}}]
    ipv6_prefix: 128
    bantime_increment: null
  inherit:
    ingest: [{file: {paths: [/var/log/b.log]}}]
    ipv4_prefix: 24
    dbpurgeage: 1w
  multipliers:
    ingest: [{file: {paths: [/var/log/c.log]}}]
    bantime_increment:
      multipliers: "1 2 4 8 16 32 64"
      overalljails: true
  listed:
    ingest: [{file: {paths: [/var/log/d.log]}}]
    bantime_increment: {multipliers: [1, 5, 30.5], formula: ""}
  fail2ban-formula:
    ingest: [{file: {paths: [/var/log/e.log]}}]
    bantime_increment:
      factor: "0.5"
      formula: "ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)"
  exp:
    ingest: [{file: {paths: [/var/log/f.log]}}]
    bantime_increment: {formula: exp}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	const week = 7 * 24 * time.Hour
	for _, tc := range []struct {
		name        string
		v4, v6      int
		purge       time.Duration
		inc         *state.Increment
		wantTimeAt3 time.Duration // bantime with 3 earlier bans, rndtime at 0
	}{
		{name: "plain", v4: 32, v6: 128, purge: 24 * time.Hour, wantTimeAt3: 10 * time.Minute},
		{name: "inherit", v4: 24, v6: 64, purge: week, inc: &state.Increment{Factor: 2, MaxTime: 5 * week, RndTime: 10 * time.Minute}, wantTimeAt3: 160 * time.Minute},
		{name: "multipliers", v4: 32, v6: 64, purge: 24 * time.Hour, inc: &state.Increment{Factor: 1, Multipliers: []float64{1, 2, 4, 8, 16, 32, 64}, OverallJails: true}, wantTimeAt3: 80 * time.Minute},
		{name: "listed", v4: 32, v6: 64, purge: 24 * time.Hour, inc: &state.Increment{Factor: 1, Multipliers: []float64{1, 5, 30.5}}, wantTimeAt3: 305 * time.Minute},
		{name: "fail2ban-formula", v4: 32, v6: 64, purge: 24 * time.Hour, inc: &state.Increment{Factor: 0.5, Formula: state.FormulaExp}},
		{name: "exp", v4: 32, v6: 64, purge: 24 * time.Hour, inc: &state.Increment{Factor: 1, Formula: state.FormulaExp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := slices.IndexFunc(cfg.Pipelines, func(p *Pipeline) bool { return p.Name == tc.name })
			pol := cfg.Pipelines[i].Policy(Deps{})
			if pol.IPv4Prefix != tc.v4 || pol.IPv6Prefix != tc.v6 || pol.DBPurgeAge != tc.purge {
				t.Errorf("prefixes %d %d purge %v", pol.IPv4Prefix, pol.IPv6Prefix, pol.DBPurgeAge)
			}
			if (pol.Increment == nil) != (tc.inc == nil) || tc.inc != nil && !reflect.DeepEqual(*pol.Increment, *tc.inc) {
				t.Fatalf("increment %+v, want %+v", pol.Increment, tc.inc)
			}
			if tc.wantTimeAt3 != 0 {
				if got := pol.Increment.BanTime(pol.BanTime, 3, func() float64 { return 0 }); got != tc.wantTimeAt3 {
					t.Errorf("bantime at the 4th ban %v, want %v", got, tc.wantTimeAt3)
				}
			}
		})
	}
}
