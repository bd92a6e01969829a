package pipelines

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/logjail/logjail/internal/testkit"
)

// fail2banFilterDir holds the filters of the installed fail2ban package.
const fail2banFilterDir = "/etc/fail2ban/filter.d"

// TestEveryFail2banFilterHasACounterpart requires, for every filter the
// installed fail2ban ships (its *-common.conf includes aside), a shipped
// filter of the same name or a reason in LeftOut.
func TestEveryFail2banFilterHasACounterpart(t *testing.T) {
	testkit.NeedFile(t, fail2banFilterDir, "fail2ban")
	confs, err := filepath.Glob(filepath.Join(fail2banFilterDir, "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	shippedNames := ShippedFilters()
	var theirs []string
	for _, c := range confs {
		name := strings.TrimSuffix(filepath.Base(c), ".conf")
		if name == "common" || strings.HasSuffix(name, "-common") {
			continue
		}
		theirs = append(theirs, name)
		shipped := slices.Contains(shippedNames, name)
		_, left := LeftOut[name]
		switch {
		case shipped && left:
			t.Errorf("%s is shipped: remove it from LeftOut", name)
		case !shipped && !left:
			t.Errorf("fail2ban's filter %s has no shipped counterpart: write filters/%s.yaml, or say in LeftOut why not", name, name)
		}
	}
	if len(theirs) < 80 {
		t.Fatalf("only %d filters in %s", len(theirs), fail2banFilterDir)
	}
	for name := range LeftOut {
		if !slices.Contains(theirs, name) {
			t.Errorf("LeftOut names %s, which fail2ban does not ship", name)
		}
	}
	t.Logf("%d of fail2ban's %d filters shipped, %d left out", len(theirs)-len(LeftOut), len(theirs), len(LeftOut))
}

// TestShippedJournalMatch: a pipeline of a shipped filter carries the
// filter's journalmatch (which Build gives a journald source without a
// match of its own); a bad term in a filter file is refused where it
// stands.
func TestShippedJournalMatch(t *testing.T) {
	for _, tc := range []struct {
		source string
		want   []string
	}{
		{"{journald: {}}", []string{"_COMM=vsftpd"}},
	} {
		dir := t.TempDir()
		cfg := "pipelines:\n  ftp:\n    enabled: true\n    ingest: [" + tc.source + "]\n    match: {filter: vsftpd}\n"
		if err := os.WriteFile(filepath.Join(dir, "logjail.yaml"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(filepath.Join(dir, "logjail.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Pipelines[0].Plan.JournalMatch; !slices.Equal(got, tc.want) {
			t.Errorf("%s: journal match %q, want %q", tc.source, got, tc.want)
		}
	}
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "filters"), 0o700)
	filter := "description: x\njournalmatch: [_COMM=x, 'not a term']\nfailregex: ['^x <HOST>$']\n"
	cfg := "pipelines:\n  x:\n    enabled: true\n    ingest: [{journald: {}}]\n    match: {filter: x}\n"
	os.WriteFile(filepath.Join(dir, "filters", "x.yaml"), []byte(filter), 0o600)
	os.WriteFile(filepath.Join(dir, "logjail.yaml"), []byte(cfg), 0o600)
	_, err := Load(filepath.Join(dir, "logjail.yaml"))
	if err == nil || !strings.Contains(err.Error(), "filters/x.yaml:2:") || !strings.Contains(err.Error(), `journalmatch term "not a term"`) {
		t.Errorf("a bad journalmatch term: %v", err)
	}
}
