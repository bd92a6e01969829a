package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/internal/testkit"
)

// withEtc returns the arguments that run a command with dir as
// /etc/logjail, in a mount namespace of its own (testdata/etc-logjail.sh):
// the real default path is read, and the host's /etc is left alone.
func withEtc(t *testing.T, dir string) []string {
	t.Helper()
	testkit.NeedRoot(t, "unshare", "mount")
	return []string{"unshare", "-m", "--propagation", "private", "sh", filepath.Join("testdata", "etc-logjail.sh"), t.TempDir(), dir}
}

// writeFiles writes name → body under dir, making directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	etcMain = `defaults:
  bantime: 1h
pipelines:
  sshd:
    enabled: true
    ingest:
      - file: {paths: [/var/log/auth.log]}
    match: {filter: sshd, mode: normal}
    maxretry: 5
    enforce:
      - nftables: {ports: [22]}
`
	etcLocal = `pipelines:
  sshd:
    maxretry: 3
    match: {mode: aggressive}
`
)

// TestDefaultConfig: without --config, validate and config show read
// /etc/logjail/logjail.yaml and then /etc/logjail/logjail.d/*.yaml, later
// files winning per key; a missing logjail.yaml names both paths.
func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	full := t.TempDir()
	writeFiles(t, full, map[string]string{"logjail.yaml": etcMain, "logjail.d/10-local.yaml": etcLocal, "logjail.d/README": "not read"})
	onlyD := t.TempDir()
	writeFiles(t, onlyD, map[string]string{"logjail.d/10-local.yaml": etcLocal})
	for _, tc := range []struct {
		name, dir string
		args      []string
		wantErr   bool
		want      []string
	}{
		{name: "validate", dir: full, args: []string{"validate"},
			want: []string{"/etc/logjail/logjail.yaml, /etc/logjail/logjail.d/10-local.yaml: OK (1 pipelines, enabled: sshd)"}},
		{name: "config show", dir: full, args: []string{"config", "show"}, want: []string{
			"# files, in merge order: /etc/logjail/logjail.yaml, /etc/logjail/logjail.d/10-local.yaml\n",
			"  sshd:  # /etc/logjail/logjail.yaml:4\n",
			"    match:\n      filter: sshd  # /etc/logjail/logjail.yaml:8 (shipped filter sshd)\n      mode: aggressive  # /etc/logjail/logjail.d/10-local.yaml:4\n",
			"    maxretry: 3  # /etc/logjail/logjail.d/10-local.yaml:3\n",
			"    bantime: 1h  # /etc/logjail/logjail.yaml:2\n",
			"    findtime: 10m  # default\n",
		}},
		{name: "no logjail.yaml", dir: onlyD, args: []string{"validate"}, wantErr: true,
			want: []string{"logjail: config: no --config given and /etc/logjail/logjail.yaml does not exist (logjail reads it, then /etc/logjail/logjail.d/*.yaml, when no --config is given)\n"}},
		{name: "--config still wins", dir: onlyD, args: []string{"validate", "--config", "../../pipelines/logjail.yaml"},
			want: []string{"../../pipelines/logjail.yaml: OK (1 pipelines, enabled: sshd)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(withEtc(t, tc.dir), append([]string{binary}, tc.args...)...)
			out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
			if (err != nil) != tc.wantErr {
				t.Fatalf("%s: %v\n%s", strings.Join(tc.args, " "), err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	if _, err := os.Stat("/etc/logjail/logjail.d/10-local.yaml"); err == nil {
		t.Error("the test's /etc/logjail is visible on the host")
	}
}

// TestRunDefaultConfigReload: run without --config reads /etc/logjail, and
// a reload reads it again, with a pipeline added in logjail.d since.
func TestRunDefaultConfigReload(t *testing.T) {
	t.Parallel()
	s := newSetup(t, e2ePipeline(fileSource, sshdFilter))
	s.config = "" // s.dir is /etc/logjail: its logjail.yaml is read
	s.wrap = withEtc(t, s.dir)
	s.start(t, nil)
	writeFiles(t, s.dir, map[string]string{"logjail.d/20-web.yaml": "pipelines:\n  web:\n    enabled: true\n    ingest:\n      - file: {paths: [" + s.logFile + "]}\n    match: {filter: sshd}\n"})
	out, err := exec.Command(binary, "reload", "--json", "--socket", s.socket).Output()
	if err != nil {
		t.Fatalf("logjail reload: %v\n%s", err, out)
	}
	var st daemon.Status
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !slices.Equal(st.Pipelines, []string{"e2e", "web"}) {
		t.Fatalf("pipelines after reload: %v, want e2e and web", st.Pipelines)
	}
	testkit.WaitFor(t, 10*time.Second, func() error {
		s.appendLines(t, time.Now(), "sshd[999]: Server listening on 0.0.0.0 port 22.")
		return testkit.Check(sourceRead(s.socket, "web") > 0, "pipeline web reads nothing")
	})
}

// TestConfigShow: config show prints testdata/config-show/conf's files
// merged, as testdata/config-show/show.txt and show.json hold them; the
// text is YAML that loads to the same configuration.
func TestConfigShow(t *testing.T) {
	t.Parallel()
	conf := filepath.Join("testdata", "config-show", "conf")
	show := func(t *testing.T, args ...string) []byte {
		t.Helper()
		out, err := exec.Command(binary, append([]string{"config", "show"}, args...)...).Output()
		if err != nil {
			t.Fatalf("config show %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	for _, tc := range []struct{ name, golden string }{{"text", "show.txt"}, {"json", "show.json"}} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--config", conf}
			if tc.name == "json" {
				args = append(args, "--json")
			}
			got, want := show(t, args...), readFile(t, filepath.Join("testdata", "config-show", tc.golden))
			if string(got) != string(want) {
				t.Errorf("config show %s:\n%s\nwant (%s):\n%s", strings.Join(args, " "), got, tc.golden, want)
			}
		})
	}
	t.Run("round trip", func(t *testing.T) {
		again := filepath.Join(t.TempDir(), "shown.yaml")
		if err := os.WriteFile(again, show(t, "--config", conf), 0o600); err != nil {
			t.Fatal(err)
		}
		first, second := valuesOf(t, show(t, "--config", conf, "--json")), valuesOf(t, show(t, "--config", again, "--json"))
		if !reflect.DeepEqual(first, second) {
			t.Errorf("the shown configuration loads to another:\n%v\nwant\n%v", second, first)
		}
	})
	t.Run("--config twice", func(t *testing.T) {
		out, err := exec.Command(binary, "config", "show", "--config", conf, "--config", conf).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "given twice; to merge several files, put them in a directory and give that") {
			t.Fatalf("want an error, got %v:\n%s", err, out)
		}
	})
}

// valuesOf is config show --json's document without the files and the
// places values came from.
func valuesOf(t *testing.T, doc []byte) any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	delete(v, "files")
	var strip func(any) any
	strip = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			delete(x, "from")
			for k, e := range x {
				x[k] = strip(e)
			}
		case []any:
			for i, e := range x {
				x[i] = strip(e)
			}
		}
		return x
	}
	return strip(v)
}
