package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// The package is installed and purged in a throwaway root: an overlay
// whose lower layer is the host's / (read-only to it) and whose upper
// layer is a tmpfs, mounted in a mount namespace of the test's own. dpkg
// runs chrooted into it, so the maintainer scripts run exactly as on a
// host (no systemd answers there: they enable the unit but start
// nothing), and every change lands in the tmpfs, which goes with the
// namespace.

// throwaway is a root directory inside a mount namespace held open by a
// process of the test.
type throwaway struct {
	pid  int    // the process holding the namespace
	root string // the overlay's mount point, as the namespace sees it
}

func newThrowaway(t *testing.T) *throwaway {
	t.Helper()
	testkit.NeedRoot(t, "unshare", "nsenter", "chroot", "dpkg")
	dir := t.TempDir()
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "3600")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	tw := &throwaway{pid: holder.Process.Pid, root: filepath.Join(dir, "root")}
	self, _ := os.Readlink("/proc/self/ns/mnt")
	testkit.WaitFor(t, 10*time.Second, func() error {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", tw.pid))
		return testkit.Check(err == nil && ns != self, "unshare has not made its mount namespace yet")
	})
	tw.ns(t, "sh", "-ec", `
		mkdir "$1/layers" "$1/root"
		mount -t tmpfs tmpfs "$1/layers"
		mkdir "$1/layers/upper" "$1/layers/work"
		mount -t overlay overlay -o "lowerdir=/,upperdir=$1/layers/upper,workdir=$1/layers/work" "$1/root"
		mount -t tmpfs tmpfs "$1/root/run"
		mount -t tmpfs tmpfs "$1/root/tmp"
		mount --bind /dev "$1/root/dev"
		mount -t proc proc "$1/root/proc"`, "sh", dir)
	return tw
}

// ns runs a command in the namespace and returns its output.
func (tw *throwaway) ns(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(tw.pid), "-m", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// chroot runs a command inside the throwaway root.
func (tw *throwaway) chroot(t *testing.T, args ...string) string {
	t.Helper()
	return tw.ns(t, append([]string{"chroot", tw.root}, args...)...)
}

// path is where the test reads path of the throwaway root from outside.
func (tw *throwaway) path(path string) string {
	return fmt.Sprintf("/proc/%d/root%s%s", tw.pid, tw.root, path)
}

// passwdEntry returns the fields of name's line in the root's /etc/passwd.
func (tw *throwaway) passwdEntry(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(tw.path("/etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Split(sc.Text(), ":"); fields[0] == name {
			return fields
		}
	}
	return nil
}

// hostPaths are the host's paths the package would touch: the test
// checks that they are the same after it as before.
var hostPaths = []string{
	"/usr/bin/logjail", "/etc/logjail", "/var/lib/logjail", "/run/logjail",
	"/usr/lib/systemd/system/logjail.service", "/usr/lib/sysusers.d/logjail.conf",
	"/etc/systemd/system/multi-user.target.wants/logjail.service",
	"/var/lib/dpkg/status", "/var/lib/dpkg/info/logjail.list",
}

func fingerprint() string {
	var b strings.Builder
	for _, p := range hostPaths {
		fi, err := os.Lstat(p)
		if err != nil {
			fmt.Fprintf(&b, "%s: absent\n", p)
			continue
		}
		fmt.Fprintf(&b, "%s: %v %d %v\n", p, fi.Mode(), fi.Size(), fi.ModTime())
	}
	return b.String()
}

// TestInstallPurge installs the package with dpkg in a throwaway root and
// purges it: the maintainer scripts create the user, the directories and
// the enabling symlink, the binary runs, and a purge takes away all but
// the user; the host is untouched.
func TestInstallPurge(t *testing.T) {
	deb := testPackage(t)
	tw := newThrowaway(t)
	before := fingerprint()
	b, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tw.path("/tmp/logjail.deb"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	tw.chroot(t, "dpkg", "-i", "/tmp/logjail.deb")
	checkInstalled(t, tw)

	tw.chroot(t, "dpkg", "--purge", "logjail")
	checkPurged(t, tw)
	if after := fingerprint(); after != before {
		t.Errorf("the host changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// checkInstalled: what an installation must leave.
func checkInstalled(t *testing.T, tw *throwaway) {
	t.Helper()
	if got := tw.chroot(t, "dpkg-query", "-W", "-f", "${Status} ${Version}", "logjail"); got != "install ok installed "+testVersion {
		t.Errorf("dpkg-query: %q", got)
	}
	user := tw.passwdEntry(t, "logjail")
	if len(user) != 7 || user[6] != "/usr/sbin/nologin" {
		t.Fatalf("user logjail after installation: %q", user)
	}
	uid, _ := strconv.Atoi(user[2])
	for _, tc := range []struct {
		path string
		mode os.FileMode
		uid  int
	}{
		{"/var/lib/logjail", os.ModeDir | 0o700, uid},
		{"/run/logjail", os.ModeDir | 0o750, uid},
		{"/etc/logjail/logjail.yaml", 0o644, 0},
		{"/usr/bin/logjail", 0o755, 0},
	} {
		fi, err := os.Stat(tw.path(tc.path))
		if err != nil {
			t.Errorf("after installation: %v", err)
			continue
		}
		if st := fi.Sys().(*syscall.Stat_t); fi.Mode() != tc.mode || int(st.Uid) != tc.uid {
			t.Errorf("%s: mode %v uid %d, want %v uid %d", tc.path, fi.Mode(), st.Uid, tc.mode, tc.uid)
		}
	}
	// Enabled, as debhelper enables a package's unit by default.
	if _, err := os.Lstat(tw.path("/etc/systemd/system/multi-user.target.wants/logjail.service")); err != nil {
		t.Errorf("the unit is not enabled: %v", err)
	}
	if got := tw.chroot(t, "/usr/bin/logjail", "--version"); !strings.HasPrefix(got, "logjail version "+testVersion+" ") {
		t.Errorf("logjail --version: %q", got)
	}
	tw.chroot(t, "/usr/bin/logjail", "validate", "--config", "/etc/logjail/logjail.yaml")
	if got := tw.chroot(t, "man", "-w", "logjail.yaml"); got != "/usr/share/man/man5/logjail.yaml.5.gz\n" {
		t.Errorf("man -w logjail.yaml: %q", got)
	}
}

// checkPurged: a purge leaves nothing of the package but the user.
func checkPurged(t *testing.T, tw *throwaway) {
	t.Helper()
	gone := []string{"/var/lib/logjail", "/run/logjail", "/etc/logjail",
		"/etc/systemd/system/multi-user.target.wants/logjail.service", "/var/lib/dpkg/info/logjail.list"}
	for p := range packageFiles {
		gone = append(gone, strings.TrimPrefix(p, "."))
	}
	for _, p := range gone {
		if _, err := os.Lstat(tw.path(p)); !os.IsNotExist(err) {
			t.Errorf("after purge, %s: %v (want it gone)", p, err)
		}
	}
	if user := tw.passwdEntry(t, "logjail"); user == nil {
		t.Error("purge removed the user logjail; Debian packages keep theirs")
	}
}

// TestInstallPurgeDPKGRoot: with dpkg --root and its scripts run outside
// that root (--force-script-chrootless, as when bootstrapping a system),
// the maintainer scripts work inside $DPKG_ROOT alone. It runs in the
// throwaway root too, so a script that forgot $DPKG_ROOT changes that
// root, never the host, and the test sees it there.
func TestInstallPurgeDPKGRoot(t *testing.T) {
	deb := testPackage(t)
	tw := newThrowaway(t)
	b, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tw.path("/tmp/logjail.deb"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// An empty system for dpkg: its database and /etc.
	tw.chroot(t, "sh", "-ec", `
		mkdir -p /tmp/target/var/lib/dpkg/info /tmp/target/var/lib/dpkg/updates /tmp/target/etc
		touch /tmp/target/var/lib/dpkg/status`)
	outside := map[string]bool{}
	for _, p := range []string{"/var/lib/logjail", "/etc/systemd/system/multi-user.target.wants/logjail.service", "/usr/bin/logjail"} {
		_, err := os.Lstat(tw.path(p))
		outside[p] = err == nil
	}
	dpkg := []string{"dpkg", "--root=/tmp/target", "--force-script-chrootless", "--force-depends"}
	tw.chroot(t, append(dpkg, "-i", "/tmp/logjail.deb")...)
	target := &throwaway{pid: tw.pid, root: tw.root + "/tmp/target"}
	if user := target.passwdEntry(t, "logjail"); len(user) != 7 {
		t.Errorf("user logjail in $DPKG_ROOT: %q", user)
	}
	for _, p := range []string{"/var/lib/logjail", "/run/logjail", "/usr/bin/logjail", "/etc/systemd/system/multi-user.target.wants/logjail.service"} {
		if _, err := os.Lstat(target.path(p)); err != nil {
			t.Errorf("in $DPKG_ROOT: %v", err)
		}
	}
	tw.chroot(t, append(dpkg, "--purge", "logjail")...)
	for _, p := range []string{"/var/lib/logjail", "/run/logjail", "/usr/bin/logjail", "/etc/logjail"} {
		if _, err := os.Lstat(target.path(p)); !os.IsNotExist(err) {
			t.Errorf("in $DPKG_ROOT after purge, %s: %v (want it gone)", p, err)
		}
	}
	for p, was := range outside {
		if _, err := os.Lstat(tw.path(p)); (err == nil) != was {
			t.Errorf("outside $DPKG_ROOT, %s changed (existed before: %v)", p, was)
		}
	}
}
