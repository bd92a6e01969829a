package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// debVersion is a version dpkg accepts: an upstream part starting with a
// digit, optionally a "-revision" (no epoch: mkdeb never needs one).
var debVersion = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*(-[A-Za-z0-9.+~]+)?$`)

// describeTag is what `git describe --tags --long` prints for a commit
// after a release tag: v1.2.3-4-gabcdef0.
var describeTag = regexp.MustCompile(`^v?([0-9][A-Za-z0-9.+~]*)-([0-9]+)-g([0-9a-f]+)$`)

// packageVersion returns the Debian version for the package: override
// when it is given (a leading "v" dropped, as in a tag), else one made from
// the repository in dir by versionFromGit.
func packageVersion(dir, override string) (string, error) {
	v := strings.TrimPrefix(override, "v")
	if override == "" {
		var err error
		if v, err = versionFromGit(dir); err != nil {
			return "", err
		}
	}
	if !debVersion.MatchString(v) {
		return "", fmt.Errorf("version %q: a Debian version starts with a digit and has only letters, digits and . + ~ (one - before a revision)", v)
	}
	return v, nil
}

// versionFromGit makes a Debian version from the commit checked out in
// dir, ordered as dpkg compares them:
//
//	at tag v1.2.3               1.2.3
//	4 commits after v1.2.3      1.2.3+git4.gabcdef012345
//	no release tag yet          0.0.0~git20261207131454.abcdef012345
//
// and "+dirty" (".dirty" after a "+") when the tree has uncommitted
// changes, as `logjail --version` says "modified".
func versionFromGit(dir string) (string, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w (give --version when building outside a git checkout)", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	status, err := git("status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return "", err
	}
	v := ""
	if d, err := git("describe", "--tags", "--long", "--abbrev=12", "--match", "v[0-9]*"); err == nil {
		m := describeTag.FindStringSubmatch(d)
		if m == nil {
			return "", fmt.Errorf("git describe: %q is not TAG-N-gHASH", d)
		}
		v = m[1]
		if m[2] != "0" {
			v += "+git" + m[2] + ".g" + m[3]
		}
	} else {
		// No release tag: date the commit as a Go pseudo-version does.
		info, err := git("log", "-1", "--format=%ct %H")
		if err != nil {
			return "", err
		}
		var unix int64
		var hash string
		if _, err := fmt.Sscan(info, &unix, &hash); err != nil || len(hash) < 12 {
			return "", fmt.Errorf("git log: %q: not a commit time and hash", info)
		}
		v = "0.0.0~git" + time.Unix(unix, 0).UTC().Format("20060102150405") + "." + hash[:12]
	}
	if status != "" {
		if strings.Contains(v, "+") {
			v += ".dirty"
		} else {
			v += "+dirty"
		}
	}
	return v, nil
}
