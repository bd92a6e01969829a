package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/logjail/logjail/internal/testkit"
)

func TestPackageVersionOverride(t *testing.T) {
	for _, tc := range []struct {
		name, override, want string // want "" is an error
	}{
		{"release", "1.2.3", "1.2.3"},
		{"tag with v", "v1.2.3", "1.2.3"},
		{"with a revision", "1.2.3-1", "1.2.3-1"},
		{"pre-release", "1.2.3~rc1", "1.2.3~rc1"},
		{"no digit first", "latest", ""},
		{"space", "1.2 3", ""},
		{"two hyphens", "1.2-3-4", ""},
		{"underscore", "1_2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := packageVersion(t.TempDir(), tc.override)
			if (err != nil) != (tc.want == "") || got != tc.want {
				t.Errorf("packageVersion(%q) = %q, %v; want %q", tc.override, got, err, tc.want)
			}
		})
	}
}

// TestVersionFromGit builds a repository commit by commit and checks the
// version made at each step.
func TestVersionFromGit(t *testing.T) {
	git := testkit.NeedProgram(t, "git", "git")
	dir := t.TempDir()
	g := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(git, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE=2026-12-07T13:14:15Z", "GIT_COMMITTER_DATE=2026-12-07T13:14:15Z",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	file := filepath.Join(dir, "f")
	commit := func(text string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		g("add", "f")
		g("commit", "-q", "-m", text)
	}
	g("init", "-q")
	commit("one")
	for _, step := range []struct {
		name string
		do   func()
		want string // a regexp
	}{
		{"no tag", func() {}, `^0\.0\.0~git20261207131415\.[0-9a-f]{12}$`},
		{"no tag, modified", func() { os.WriteFile(file, []byte("changed"), 0o644) }, `^0\.0\.0~git20261207131415\.[0-9a-f]{12}\+dirty$`},
		{"at a tag", func() { g("checkout", "-q", "f"); g("tag", "v1.2.3") }, `^1\.2\.3$`},
		{"at a tag, modified", func() { os.WriteFile(file, []byte("changed"), 0o644) }, `^1\.2\.3\+dirty$`},
		{"after a tag", func() { commit("two") }, `^1\.2\.3\+git1\.g[0-9a-f]{12}$`},
		{"after a tag, modified", func() { os.WriteFile(file, []byte("changed again"), 0o644) }, `^1\.2\.3\+git1\.g[0-9a-f]{12}\.dirty$`},
	} {
		step.do()
		got, err := packageVersion(dir, "")
		if err != nil || !regexp.MustCompile(step.want).MatchString(got) {
			t.Errorf("%s: %q, %v; want %s", step.name, got, err, step.want)
		}
	}
}
