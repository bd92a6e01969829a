package pipelines

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// useDefaults points the default configuration (Load("")) at
// testdata/merge/NAME for one test: NAME/logjail.yaml, then NAME/logjail.d.
func useDefaults(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join("testdata", "merge", name)
	oldFile, oldDir := defaultFile, defaultDir
	defaultFile, defaultDir = filepath.Join(dir, "logjail.yaml"), filepath.Join(dir, "logjail.d")
	t.Cleanup(func() { defaultFile, defaultDir = oldFile, oldDir })
	return dir
}

// mergeCases are TestDefaultConfigMerges's: testdata/merge/NAME/logjail.yaml,
// then its logjail.d/*.yaml, read as Load("") reads /etc/logjail.
var mergeCases = []struct {
	name      string
	wantFiles []string // relative to the case's directory
	check     func(t *testing.T, cfg *Config)
	wantErr   []string // each line of the error, the case's directory as DIR
}{
	{
		name: "nested", wantFiles: []string{"logjail.yaml", "logjail.d/sshd.yaml"},
		check: func(t *testing.T, cfg *Config) {
			p := cfg.Pipeline("sshd")
			if p.MaxRetry != 3 || time.Duration(p.FindTime) != 24*time.Hour || time.Duration(p.BanTime) != time.Hour {
				t.Errorf("maxretry %d findtime %v bantime %v, want 3 1d 1h", p.MaxRetry, time.Duration(p.FindTime), time.Duration(p.BanTime))
			}
			if p.Match.Filter.S != "sshd" || p.Match.Mode.S != "aggressive" || !strings.HasSuffix(p.Match.Mode.At.File, "logjail.d/sshd.yaml") {
				t.Errorf("match %+v: want filter sshd from logjail.yaml, mode aggressive from logjail.d/sshd.yaml", p.Match)
			}
			if inc := p.BanTimeIncrement; inc == nil || inc.Factor.S != "3" || inc.MaxTime.S != "5w" {
				t.Errorf("bantime_increment %+v: want factor 3 over 2, maxtime 5w kept", inc)
			}
			if len(p.Enforce) != 1 || len(p.Ingest) != 1 {
				t.Errorf("enforce %d ingest %d, want both kept", len(p.Enforce), len(p.Ingest))
			}
		},
	},
	{
		name: "order", wantFiles: []string{"logjail.yaml", "logjail.d/10-first.yaml", "logjail.d/20-second.yaml"},
		check: func(t *testing.T, cfg *Config) {
			p := cfg.Pipeline("web")
			if p.MaxRetry != 4 || time.Duration(p.BanTime) != 2*time.Hour {
				t.Errorf("maxretry %d bantime %v, want 4 (20-second) and 2h (10-first)", p.MaxRetry, time.Duration(p.BanTime))
			}
		},
	},
	{
		name: "lists", wantFiles: []string{"logjail.yaml", "logjail.d/local.yaml"},
		check: func(t *testing.T, cfg *Config) {
			p := cfg.Pipeline("sshd")
			if len(p.Ingest) != 1 || !slices.Equal(p.Ingest[0].File.Paths, []string{"/srv/log/auth.log"}) {
				t.Errorf("ingest %+v: want only local.yaml's source", p.Ingest)
			}
			var got []string
			for _, a := range p.IgnoreIP {
				got = append(got, a.String())
			}
			if !slices.Equal(got, []string{"203.0.113.0/24"}) {
				t.Errorf("ignoreip %v: want local.yaml's list alone", got)
			}
		},
	},
	{
		name: "only-d", wantFiles: []string{"logjail.yaml", "logjail.d/web.yaml"},
		check: func(t *testing.T, cfg *Config) {
			if p := cfg.Pipeline("web"); p == nil || !p.Enabled || p.MaxRetry != 4 {
				t.Errorf("web %+v: want it enabled, maxretry 4 from logjail.yaml's defaults", p)
			}
		},
	},
	{
		name: "no-dir", wantFiles: []string{"logjail.yaml"},
		check: func(t *testing.T, cfg *Config) {
			if p := cfg.Pipeline("sshd"); p == nil || p.MaxRetry != 4 {
				t.Errorf("sshd %+v", p)
			}
		},
	},
	{
		name: "fleet", wantFiles: []string{"logjail.yaml", "logjail.d/nats.yaml"},
		check: func(t *testing.T, cfg *Config) {
			f := cfg.FleetSpec
			if f.NATS.URL != "nats://10.0.0.2:4222" || f.NATS.User != "logjail" || f.NATS.Password != "secret" || f.Node != "host-a" {
				t.Errorf("fleet %+v: want nats.yaml's url, logjail.yaml's user and node", f)
			}
		},
	},
	{
		name: "bad-value",
		wantErr: []string{
			`DIR/logjail.d/sshd.yaml:5:15: pipelines.sshd.findtime: invalid duration "10x": unknown unit "x" (use ms s m h d w mo y)`,
			`DIR/logjail.yaml:8:16: pipelines.sshd.ignoreip[0]: invalid address "192.0.2.300" (want an IPv4/IPv6 address or CIDR)`,
		},
	},
	{
		name:    "missing-main",
		wantErr: []string{"config: no --config given and DIR/logjail.yaml does not exist (logjail reads it, then DIR/logjail.d/*.yaml, when no --config is given)"},
	}}

// TestDefaultConfigMerges reads testdata/merge/*/logjail.yaml and then its
// logjail.d/*.yaml as Load("") reads /etc/logjail: later files win, maps
// merge key by key, lists and scalars are replaced whole.
func TestDefaultConfigMerges(t *testing.T) {
	for _, tc := range mergeCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := useDefaults(t, tc.name)
			cfg, err := Load("")
			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("Load succeeded")
				}
				var want []string
				for _, w := range tc.wantErr {
					want = append(want, strings.ReplaceAll(w, "DIR", dir))
				}
				if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
					t.Fatalf("errors:\n got: %q\nwant: %q", got, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, f := range tc.wantFiles {
				want = append(want, filepath.Join(dir, f))
			}
			if !slices.Equal(cfg.Files, want) {
				t.Errorf("files %q, want %q", cfg.Files, want)
			}
			tc.check(t, cfg)
		})
	}
}

// TestDirectoryMergesRecursively: --config DIR merges its files by the same
// rules as the default configuration.
func TestDirectoryMergesRecursively(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"00-base.yaml":  "pipelines:\n  sshd:\n    enabled: true\n    ingest: [{file: {paths: [/var/log/auth.log]}}]\n    match: {filter: sshd, mode: normal}\n",
		"10-local.yaml": "pipelines:\n  sshd:\n    match: {mode: aggressive}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.Pipeline("sshd").Match; m.Filter.S != "sshd" || m.Mode.S != "aggressive" {
		t.Errorf("match %+v: want filter sshd, mode aggressive", m)
	}
}
