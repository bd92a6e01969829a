package main

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"
)

// goBuild builds logjail for goarch into dir/name the way the package
// ships it: -trimpath, the version linked in (so `logjail --version`
// says what `dpkg -s logjail` says), cgo as the go command's default
// (the journald source needs it).
func goBuild(root, dir, name, goarch, version string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version="+version, "-o", out, "./cmd/logjail")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/logjail (GOARCH=%s): %w", goarch, err)
	}
	return out, nil
}

// generated are the files mkdeb makes from the command definitions.
type generated struct {
	manCommand, manConfig, fish string // paths
}

// generate writes logjail(1) and the fish completion (both from the
// urfave/cli App, which `logjail docs` prints) and logjail.yaml(5) (from
// its markdown source) into dir. bin must run on this host.
func generate(root, dir, bin string) (generated, error) {
	run := func(what string) ([]byte, error) {
		out, err := exec.Command(bin, "docs", what).Output()
		if err != nil {
			return nil, fmt.Errorf("logjail docs %s: %w", what, err)
		}
		return out, nil
	}
	g := generated{
		manCommand: filepath.Join(dir, "logjail.1.gz"),
		manConfig:  filepath.Join(dir, "logjail.yaml.5.gz"),
		fish:       filepath.Join(dir, "logjail.fish"),
	}
	man, err := run("man")
	if err != nil {
		return g, err
	}
	if err := writeGzip(g.manCommand, man); err != nil {
		return g, err
	}
	md, err := os.ReadFile(filepath.Join(root, configManSource))
	if err != nil {
		return g, err
	}
	if err := writeGzip(g.manConfig, md2man.Render(md)); err != nil {
		return g, err
	}
	fish, err := run("fish")
	if err != nil {
		return g, err
	}
	return g, os.WriteFile(g.fish, fish, 0o644)
}

// writeGzip writes b gzipped as Debian ships manual pages: best
// compression, no name or time in the header (so builds are repeatable).
func writeGzip(path string, b []byte) error {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(b); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// hostBinary returns a logjail that runs here for `logjail docs`: the
// package's own when it is built for this host, else one built for it.
func hostBinary(root, dir, goarch, version, bin string) (string, error) {
	if goarch == runtime.GOARCH {
		return bin, nil
	}
	return goBuild(root, dir, "logjail-host", runtime.GOARCH, version)
}

// libcDepends returns the Depends entry for the C library bin links
// (cgo), at the newest GLIBC symbol version it needs, as dpkg-shlibdeps
// would find: "libc6 (>= 2.34)". A binary without cgo needs none.
func libcDepends(bin string) (string, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return "", err
	}
	defer f.Close()
	syms, err := f.ImportedSymbols()
	if err != nil {
		return "", nil // statically linked: no dynamic symbols
	}
	best := ""
	for _, s := range syms {
		v, ok := strings.CutPrefix(s.Version, "GLIBC_")
		if ok && newerVersion(v, best) {
			best = v
		}
	}
	if best == "" {
		return "", nil
	}
	return "libc6 (>= " + best + ")", nil
}

// newerVersion compares dotted numeric versions ("2.34" > "2.3.4").
func newerVersion(a, b string) bool {
	if b == "" {
		return true
	}
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x > y
		}
	}
	return false
}
