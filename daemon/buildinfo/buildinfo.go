// Package buildinfo says which build of logjail is running: the version
// given at link time, or else the module version and version-control stamp
// the Go toolchain records in every binary it builds, so a `go build` or
// `go install`ed logjail never calls itself just "dev".
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Info describes a build. It is part of the control API (`logjail status
// --json`, `logjail ping --json`).
type Info struct {
	// Version is the version given with -ldflags "-X main.version=…",
	// else the main module's ("v1.2.3", a pseudo-version, or "(devel)"
	// for a build outside version control).
	Version string `json:"version"`
	// Revision is the commit the binary was built from, Time its commit
	// time (RFC 3339) and Modified whether the tree had uncommitted
	// changes; empty when the build had no version-control stamp.
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"time,omitempty"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
}

// unknown is the version of a binary without build information (built
// without module support).
const unknown = "unknown"

// shortRevision is how many characters of the revision String prints, as
// many as a Go pseudo-version has.
const shortRevision = 12

// Read returns the running binary's build: linked is the version given at
// link time ("" for none).
func Read(linked string) Info {
	bi, _ := debug.ReadBuildInfo() // nil when there is none
	return From(linked, bi)
}

// From returns the build bi describes (nil when the binary has no build
// information), its version replaced by linked when that is not "".
func From(linked string, bi *debug.BuildInfo) Info {
	info := Info{Version: linked, GoVersion: runtime.Version()}
	if bi == nil {
		if info.Version == "" {
			info.Version = unknown
		}
		return info
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	if info.Version == "" {
		info.Version = bi.Main.Version
	}
	if info.Version == "" {
		info.Version = unknown
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the build on one line, what `logjail --version` prints after
// "logjail version ": the version, then in parentheses the revision (12
// characters), its commit time and "modified" when the tree was, each only
// when known, then the Go version:
//
//	v1.2.3 (rev 0123456789ab, 2026-12-07T12:00:00Z, modified) go1.26.8
func (i Info) String() string {
	var vcs []string
	if i.Revision != "" {
		vcs = append(vcs, "rev "+i.Revision[:min(len(i.Revision), shortRevision)])
	}
	if i.Time != "" {
		vcs = append(vcs, i.Time)
	}
	if i.Modified {
		vcs = append(vcs, "modified")
	}
	var b strings.Builder
	b.WriteString(i.Version)
	if len(vcs) > 0 {
		b.WriteString(" (" + strings.Join(vcs, ", ") + ")")
	}
	b.WriteString(" " + i.GoVersion)
	return b.String()
}
