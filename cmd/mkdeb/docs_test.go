package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/pipelines"
)

// extracted unpacks the package (dpkg-deb -x) into a temporary directory.
func extracted(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	dpkgDeb(t, "-x", testPackage(t), dir)
	return dir
}

// run runs a command and returns its standard output and error.
func run(t *testing.T, env []string, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// TestManPages renders both pages with man-db (groff), which must not
// warn, and looks for what each must say.
func TestManPages(t *testing.T) {
	man := testkit.NeedProgram(t, "man", "man-db")
	testkit.NeedProgram(t, "nroff", "groff-base")
	dir := extracted(t)
	for _, tc := range []struct {
		page string
		want []string
	}{
		{"usr/share/man/man1/logjail.1.gz", []string{"logjail(1)", "NAME", "logjail - ban the addresses", "COMMANDS", "status", "unban", "--config", "logjail.yaml(5)"}},
		{"usr/share/man/man5/logjail.yaml.5.gz", []string{"logjail.yaml(5)", "PIPELINE KEYS", "maxretry", "nftables", "<HOST>", "<ip>", "logjail(1)"}},
	} {
		t.Run(filepath.Base(tc.page), func(t *testing.T) {
			out, warnings := run(t, []string{"MANWIDTH=80", "LC_ALL=C.UTF-8"}, man, "--warnings", "-l", filepath.Join(dir, tc.page))
			if warnings != "" {
				t.Errorf("man --warnings:\n%s", warnings)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the page does not say %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestBashCompletion: the script loads, and completes from what the
// packaged binary lists, after arguments too (its reordering of flags
// must leave --generate-bash-completion last, where urfave/cli looks),
// except after a "--", where urfave/cli would run
// the command instead of completing (a TAB must never ban or reload): the
// stub must not be asked then.
func TestBashCompletion(t *testing.T) {
	bash := testkit.NeedProgram(t, "bash", "bash")
	dir := extracted(t)
	script := filepath.Join(dir, "usr/share/bash-completion/completions/logjail")
	out, _ := run(t, nil, bash, "-c", `source "$1"; complete -p logjail`, "bash", script)
	if !strings.Contains(out, "-F _logjail") || !strings.HasSuffix(strings.TrimSpace(out), " logjail") {
		t.Errorf("complete -p logjail: %q", out)
	}
	stub := testkit.WriteFile(t, t.TempDir(), "stub", "#!/bin/sh\necho ASKED\n")
	if err := os.Chmod(stub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bin   string
		words []string // after logjail; the last is being completed
		want  string   // COMPREPLY, one a line, sorted
	}{
		{filepath.Join(dir, "usr/bin/logjail"), []string{"ba"}, "ban\nbanned\n"},
		{filepath.Join(dir, "usr/bin/logjail"), []string{"status", "--js"}, "--json\n"},
		// After an argument, and after a negative number (an argument
		// too), as right after the command.
		{filepath.Join(dir, "usr/bin/logjail"), []string{"status", "sshd", "--js"}, "--json\n"},
		// No "help" after an argument: there it would be one.
		{filepath.Join(dir, "usr/bin/logjail"), []string{"status", "sshd", ""}, ""},
		{filepath.Join(dir, "usr/bin/logjail"), []string{"state", ""}, "check\nsalvage\n"},
		{filepath.Join(dir, "usr/bin/logjail"), []string{"set", "sshd", "bantime", "-1", "--js"}, "--json\n"},
		{stub, []string{"status", ""}, "ASKED\n"},
		{stub, []string{"ban", "sshd", "--", "192.0.2.1", ""}, ""},
		{stub, []string{"reload", "--"}, ""},
		{stub, []string{"reload", "-"}, ""},
	} {
		t.Run(strings.Join(tc.words, " "), func(t *testing.T) {
			complete := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($#-1)); _logjail; ` +
				`[ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}" | sort`
			out, _ := run(t, nil, bash, append([]string{"-c", complete, "bash", script, tc.bin}, tc.words...)...)
			if out != tc.want {
				t.Errorf("COMPREPLY %q, want %q", out, tc.want)
			}
		})
	}
}

// TestZshFishCompletion: zsh and fish parse theirs, and fish completes a
// command.
func TestZshFishCompletion(t *testing.T) {
	zsh := testkit.NeedProgram(t, "zsh", "zsh")
	fish := testkit.NeedProgram(t, "fish", "fish")
	dir := extracted(t)
	run(t, nil, zsh, "-n", filepath.Join(dir, "usr/share/zsh/vendor-completions/_logjail"))
	fishScript := filepath.Join(dir, "usr/share/fish/vendor_completions.d/logjail.fish")
	run(t, nil, fish, "--no-execute", fishScript)
	out, _ := run(t, nil, fish, "--no-config", "-c", `source $argv[1]; complete -C 'logjail unb'`, fishScript)
	if !strings.HasPrefix(out, "unban\t") {
		t.Errorf("fish completes %q to %q, want unban", "logjail unb", out)
	}
}

// TestConfigManPageKeys: every YAML key of the configuration's structs
// (pipelines/spec.go) is documented, in bold, in logjail.yaml(5).
func TestConfigManPageKeys(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(root, configManSource))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{"defaults": true, "pipelines": true, "fleet": true}
	for _, v := range []any{pipelines.Pipeline{}, pipelines.FleetSpec{}, pipelines.FilterFile{}} {
		yamlKeys(reflect.TypeOf(v), keys, map[reflect.Type]bool{})
	}
	if len(keys) < 100 {
		t.Fatalf("only %d keys found: %v", len(keys), keys)
	}
	for k := range keys {
		if !strings.Contains(string(md), "**"+k+"**") {
			t.Errorf("%s does not document %s", configManSource, k)
		}
	}
}

// yamlKeys adds the yaml keys of typ and of the structs it holds to keys.
func yamlKeys(typ reflect.Type, keys map[string]bool, seen map[reflect.Type]bool) {
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct || seen[typ] {
		return
	}
	seen[typ] = true
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag, ok := f.Tag.Lookup("yaml")
		if !ok || tag == "-" {
			continue
		}
		if name, _, _ := strings.Cut(tag, ","); name != "" {
			keys[name] = true
		}
		yamlKeys(f.Type, keys, seen)
	}
}
