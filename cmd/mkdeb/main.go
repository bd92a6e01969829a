// Command mkdeb builds logjail's Debian package from the repository:
//
//	go run ./cmd/mkdeb --out dist
//
// writes dist/logjail_VERSION_ARCH.deb: the binary (built here), the
// shipped configuration as a conffile, the systemd unit with its
// sysusers.d and tmpfiles.d entries, the manual pages logjail(1) and
// logjail.yaml(5), bash, zsh and fish completions, and the maintainer
// scripts of cmd/mkdeb/scripts. The version comes from `git describe`
// (see versionFromGit) unless --version gives it; the architecture is
// GOARCH's (a GOARCH other than the host's needs a cgo cross compiler,
// CC).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

func main() {
	var o options
	flag.StringVar(&o.out, "out", "dist", "`DIR` to write the package into")
	flag.StringVar(&o.version, "version", "", "package `VERSION` (default: from git describe)")
	flag.StringVar(&o.maintainer, "maintainer", "logjail maintainers <maintainers@logjail.invalid>",
		"the package's Maintainer, `NAME <EMAIL>`")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./cmd/mkdeb [--out DIR] [--version VERSION] [--maintainer 'NAME <EMAIL>']")
		os.Exit(2)
	}
	path, err := build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

// options are mkdeb's flags.
type options struct {
	out, version, maintainer string
}

// build makes the package and returns its path.
func build(o options) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	version, err := packageVersion(root, o.version)
	if err != nil {
		return "", err
	}
	goarch := os.Getenv("GOARCH")
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	arch := goarch
	if a, ok := debArch[goarch]; ok {
		arch = a
	}
	work, err := os.MkdirTemp("", "mkdeb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	var s shipped
	if s.bin, err = goBuild(root, work, "logjail", goarch, version); err != nil {
		return "", err
	}
	host, err := hostBinary(root, work, goarch, version, s.bin)
	if err != nil {
		return "", err
	}
	if s.docs, err = generate(root, work, host); err != nil {
		return "", err
	}
	libc, err := libcDepends(s.bin)
	if err != nil {
		return "", err
	}
	var depends []string
	if libc != "" {
		depends = append(depends, libc)
	}
	return writePackage(root, o.out, version, arch, o.maintainer, s, depends)
}

// moduleRoot returns the repository's root: the nearest directory above
// the working directory that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run mkdeb inside the repository")
		}
		dir = parent
	}
}
