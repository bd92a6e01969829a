package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFrom(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "-compiler", Value: "gc"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-07T12:00:00Z"},
	}
	modified := append(vcs[:len(vcs):len(vcs)], debug.BuildSetting{Key: "vcs.modified", Value: "true"})
	clean := append(vcs[:len(vcs):len(vcs)], debug.BuildSetting{Key: "vcs.modified", Value: "false"})
	build := func(version string, settings []debug.BuildSetting) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/logjail/logjail", Version: version}, Settings: settings}
	}
	tests := []struct {
		name   string
		linked string
		bi     *debug.BuildInfo
		want   Info
		text   string
	}{
		{"go install at a tag", "", build("v1.2.3", nil),
			Info{Version: "v1.2.3", GoVersion: "go1.26.8"}, "v1.2.3 go1.26.8"},
		{"go build in a clean checkout", "", build("v0.0.0-20261207120000-0123456789ab", clean),
			Info{Version: "v0.0.0-20261207120000-0123456789ab", Revision: "0123456789abcdef0123456789abcdef01234567", Time: "2026-12-07T12:00:00Z", GoVersion: "go1.26.8"},
			"v0.0.0-20261207120000-0123456789ab (rev 0123456789ab, 2026-12-07T12:00:00Z) go1.26.8"},
		{"go build with uncommitted changes", "", build("v0.0.0-20261207120000-0123456789ab+dirty", modified),
			Info{Version: "v0.0.0-20261207120000-0123456789ab+dirty", Revision: "0123456789abcdef0123456789abcdef01234567", Time: "2026-12-07T12:00:00Z", Modified: true, GoVersion: "go1.26.8"},
			"v0.0.0-20261207120000-0123456789ab+dirty (rev 0123456789ab, 2026-12-07T12:00:00Z, modified) go1.26.8"},
		{"go build outside version control", "", build("(devel)", nil),
			Info{Version: "(devel)", GoVersion: "go1.26.8"}, "(devel) go1.26.8"},
		{"version given at link time", "1.2.3", build("(devel)", modified),
			Info{Version: "1.2.3", Revision: "0123456789abcdef0123456789abcdef01234567", Time: "2026-12-07T12:00:00Z", Modified: true, GoVersion: "go1.26.8"},
			"1.2.3 (rev 0123456789ab, 2026-12-07T12:00:00Z, modified) go1.26.8"},
		{"no build information", "", nil,
			Info{Version: "unknown", GoVersion: runtime.Version()}, "unknown " + runtime.Version()},
		{"no build information, version at link time", "1.2.3", nil,
			Info{Version: "1.2.3", GoVersion: runtime.Version()}, "1.2.3 " + runtime.Version()},
		{"empty module version", "", build("", nil),
			Info{Version: "unknown", GoVersion: "go1.26.8"}, "unknown go1.26.8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := From(tc.linked, tc.bi)
			if got != tc.want {
				t.Errorf("From = %+v, want %+v", got, tc.want)
			}
			if s := got.String(); s != tc.text {
				t.Errorf("String = %q, want %q", s, tc.text)
			}
		})
	}
}

// The test binary has build information; Read never answers "dev" or "".
func TestReadTestBinary(t *testing.T) {
	got := Read("")
	if got.Version == "" || got.Version == "dev" || got.GoVersion != runtime.Version() {
		t.Errorf("Read(\"\") = %+v", got)
	}
	if got := Read("9.9.9"); got.Version != "9.9.9" {
		t.Errorf("Read(\"9.9.9\").Version = %q", got.Version)
	}
}
