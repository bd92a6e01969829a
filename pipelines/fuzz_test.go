package pipelines

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/logjail/logjail/state"
)

// FuzzLoad loads any bytes as a configuration file. Load must not panic;
// it either fails with errors that each name file:line:column, or yields a
// configuration within the bounds validation promises, whose pipelines
// make a tracker. Nothing here reads the host: Load does not.
func FuzzLoad(f *testing.F) {
	for _, pat := range []string{"logjail.yaml", "examples/*.yaml", "testdata/invalid/*.yaml"} {
		files, _ := filepath.Glob(pat)
		for _, name := range files {
			if data, err := os.ReadFile(name); err == nil {
				f.Add(data)
			}
		}
	}
	for _, s := range []string{
		"", "~\n", "[]\n", "a: &x {b: *x}\n", "defaults: &d {maxretry: 3}\npipelines: {a: *d, b: {<<: *d}}\n",
		"pipelines:\n  x:\n    enabled: true\n    ingest: [{file: {paths: [/var/log/x.log]}}]\n    match: {failregex: ['^<HOST> x$']}\n    ipv6_prefix: 64\n",
		"pipelines:\n  x:\n    ingest: [{syslog: {listen: 'udp://127.0.0.1:0'}}]\n    match: {filter: 'sshd[mode=aggressive]'}\n    bantime: -1\n",
		"fleet: {node: a, nats: {url: 'nats://127.0.0.1:4222'}}\n", "a: b\n---\nc: d\n", "\t- x", "a: !!binary AAA=\n",
	} {
		f.Add([]byte(s))
	}
	path := filepath.Join(f.TempDir(), "fuzz.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err != nil {
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			for _, e := range errs {
				var ce *Error
				if !errors.As(e, &ce) || ce.At.File == "" || ce.At.Line < 1 || ce.At.Col < 1 {
					t.Fatalf("error %q does not name file:line:column", e)
				}
			}
			return
		}
		for _, p := range cfg.Pipelines {
			if !pipelineName.MatchString(p.Name) || p.MaxRetry < 1 || p.MaxRetry > maxMaxRetry ||
				p.MaxTracked < 1 || p.MaxTracked > maxMaxTracked || p.IPv4Prefix < 1 || p.IPv4Prefix > 32 ||
				p.IPv6Prefix < 1 || p.IPv6Prefix > 128 || p.Enabled && len(p.Ingest) == 0 {
				t.Fatalf("pipeline %+v loaded", p)
			}
			state.NewTracker(p.Policy(Deps{}))
		}
		// HostWarnings is left out: it opens the host's journals.
	})
}
