package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Missing stops a test that lacks a tool, file or privilege: it is skipped
// on a developer's machine, and fails under CI=true, where .ci/run has
// installed everything a test needs, so no test is quietly skipped there.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: every test must run)", msg)
	}
	t.Skip(msg)
}

// NeedProgram returns the path of the program name (a name looked up in
// PATH, or a path), or stops the test (see Missing) naming the Debian
// package that provides it.
func NeedProgram(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s is missing (apt-get install %s)", name, pkg)
	}
	return p
}

// NeedFile stops the test (see Missing) when path does not exist, naming
// the Debian package that installs it.
func NeedFile(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, "%v (apt-get install %s)", err, pkg)
	}
}
