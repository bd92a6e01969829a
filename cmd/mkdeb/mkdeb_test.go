package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/logjail/logjail/internal/testkit"
)

// testVersion is the version the tests build the package with.
const testVersion = "1.2.3~test"

var (
	buildOnce sync.Once
	builtDeb  string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// testPackage builds the package once for all the tests (the go build of
// logjail is the slow part) and returns its path.
func testPackage(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "mkdeb-test-"); buildErr != nil {
			return
		}
		builtDeb, buildErr = build(options{out: buildDir, version: testVersion, maintainer: "Test <test@example.org>"})
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtDeb
}

// dpkgDeb runs dpkg-deb with args and returns its standard output.
func dpkgDeb(t *testing.T, args ...string) string {
	t.Helper()
	bin := testkit.NeedProgram(t, "dpkg-deb", "dpkg")
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v %s", strings.Join(args, " "), err, stderrOf(err))
	}
	return string(out)
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func hostDebArch() string {
	if a, ok := debArch[runtime.GOARCH]; ok {
		return a
	}
	return runtime.GOARCH
}

// TestPackageName: dist/logjail_VERSION_ARCH.deb.
func TestPackageName(t *testing.T) {
	deb := testPackage(t)
	if want := "logjail_" + testVersion + "_" + hostDebArch() + ".deb"; filepath.Base(deb) != want {
		t.Errorf("package %s, want %s", deb, want)
	}
}

// TestPackageMetadata reads the control fields with dpkg-deb -f.
func TestPackageMetadata(t *testing.T) {
	deb := testPackage(t)
	for _, tc := range []struct {
		field, want string // want "" only checks that the field is set
	}{
		{"Package", "logjail"},
		{"Version", testVersion},
		{"Architecture", hostDebArch()},
		{"Maintainer", "Test <test@example.org>"},
		{"Section", "net"},
		{"Priority", "optional"},
		{"Homepage", "https://github.com/logjail/logjail"},
		{"Suggests", "nftables"},
		{"Description", ""},
	} {
		t.Run(tc.field, func(t *testing.T) {
			got := strings.TrimSpace(dpkgDeb(t, "-f", deb, tc.field))
			if got == "" || (tc.want != "" && got != tc.want) {
				t.Errorf("%s: %q, want %q", tc.field, got, tc.want)
			}
		})
	}
	// Depends: the C library at the version the binary needs (cgo),
	// libsystemd0 (the journald source) and systemd (the maintainer
	// scripts' systemctl, systemd-sysusers, systemd-tmpfiles).
	depends := strings.Split(strings.TrimSpace(dpkgDeb(t, "-f", deb, "Depends")), ", ")
	if len(depends) != 3 || !strings.HasPrefix(depends[0], "libc6 (>= 2.") || depends[1] != "libsystemd0" || depends[2] != "systemd" {
		t.Errorf("Depends: %q", depends)
	}
	if got := dpkgDeb(t, "--info", deb, "conffiles"); got != "/etc/logjail/logjail.yaml\n" {
		t.Errorf("conffiles: %q, want only /etc/logjail/logjail.yaml", got)
	}
	info := dpkgDeb(t, "--info", deb)
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		if !regexp.MustCompile(`\*\s+` + script + `\s`).MatchString(info) {
			t.Errorf("no executable %s in the control archive:\n%s", script, info)
		}
	}
}

// packageFiles are the package's files and their modes, as dpkg-deb
// --contents lists them; every entry is root's.
var packageFiles = map[string]string{
	"./usr/bin/logjail":                                  "-rwxr-xr-x",
	"./etc/logjail/logjail.yaml":                         "-rw-r--r--",
	"./usr/lib/systemd/system/logjail.service":           "-rw-r--r--",
	"./usr/lib/sysusers.d/logjail.conf":                  "-rw-r--r--",
	"./usr/lib/tmpfiles.d/logjail.conf":                  "-rw-r--r--",
	"./usr/share/man/man1/logjail.1.gz":                  "-rw-r--r--",
	"./usr/share/man/man5/logjail.yaml.5.gz":             "-rw-r--r--",
	"./usr/share/bash-completion/completions/logjail":    "-rw-r--r--",
	"./usr/share/zsh/vendor-completions/_logjail":        "-rw-r--r--",
	"./usr/share/fish/vendor_completions.d/logjail.fish": "-rw-r--r--",
}

// TestPackageContents: exactly these files, with these modes, owned by
// root, in directories of mode 0755.
func TestPackageContents(t *testing.T) {
	deb := testPackage(t)
	var files []string
	for line := range strings.Lines(dpkgDeb(t, "--contents", deb)) {
		f := strings.Fields(line)
		if len(f) != 6 {
			t.Errorf("unexpected entry %q", line)
			continue
		}
		mode, owner, path := f[0], f[1], f[5]
		if owner != "root/root" {
			t.Errorf("%s is owned by %s, want root/root", path, owner)
		}
		if strings.HasPrefix(mode, "d") {
			if mode != "drwxr-xr-x" {
				t.Errorf("directory %s: mode %s", path, mode)
			}
			continue
		}
		files = append(files, path)
		if want, ok := packageFiles[path]; !ok {
			t.Errorf("unexpected file %s", path)
		} else if mode != want {
			t.Errorf("%s: mode %s, want %s", path, mode, want)
		}
	}
	for path := range packageFiles {
		if !slices.Contains(files, path) {
			t.Errorf("missing %s", path)
		}
	}
}
