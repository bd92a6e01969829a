package fail2ban

import (
	"errors"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/logjail/logjail/internal/testkit"
)

// Tests against the fail2ban configuration installed on this machine.

const installedDir = "/etc/fail2ban"

// needInstalled skips when fail2ban is not installed, except in CI, where
// it fails.
func needInstalled(t *testing.T) {
	t.Helper()
	testkit.NeedFile(t, filepath.Join(installedDir, "jail.conf"), "fail2ban")
}

// installedFilters lists filter.d/*.conf without the include-only
// *common.conf files.
func installedFilters(t *testing.T) []string {
	t.Helper()
	needInstalled(t)
	all, err := filepath.Glob(filepath.Join(installedDir, "filter.d", "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range all {
		if !strings.HasSuffix(f, "common.conf") {
			out = append(out, f)
		}
	}
	if len(out) < 50 {
		t.Fatalf("only %d filters in %s/filter.d", len(out), installedDir)
	}
	return out
}

// modeTagRE finds tags built from the mode, such as <mdre-<mode>-other>.
var modeTagRE = regexp.MustCompile(`<([^<>\s]*)<mode>([^<>\s]*)>`)

// filterModes lists the modes a filter supports: X such that an option
// prefix+X+suffix exists for every <prefix<mode>suffix> tag it uses.
func filterModes(t *testing.T, path string) []string {
	t.Helper()
	cfg, err := ReadConfig(strings.TrimSuffix(path, ".conf"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range []string{"Definition", "Init", defaultSection} {
		names = append(names, cfg.Options(s)...)
	}
	var affixes [][2]string
	for _, s := range []string{"Definition", "Init", defaultSection} {
		for _, k := range cfg.Options(s) {
			v, _, _ := cfg.Raw(s, k)
			for _, m := range modeTagRE.FindAllStringSubmatch(v, -1) {
				affixes = append(affixes, [2]string{m[1], m[2]})
			}
		}
	}
	if len(affixes) == 0 {
		return nil
	}
	var modes []string
	for _, n := range names {
		a := affixes[0]
		if !strings.HasPrefix(n, a[0]) || !strings.HasSuffix(n, a[1]) || len(n) <= len(a[0])+len(a[1]) {
			continue
		}
		m := n[len(a[0]) : len(n)-len(a[1])]
		if strings.ContainsAny(m, "-<>") {
			continue
		}
		ok := true
		for _, b := range affixes[1:] {
			ok = ok && slices.Contains(names, b[0]+m+b[1])
		}
		if ok && !slices.Contains(modes, m) {
			modes = append(modes, m)
		}
	}
	sort.Strings(modes)
	return modes
}

func TestInstalledFiltersLoad(t *testing.T) {
	files := installedFilters(t)
	clean, variants := 0, 0
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".conf")
		f, err := LoadFilter(path, nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		clean++
		variants++
		checkResolved(t, name, f)
		for _, mode := range filterModes(t, path) {
			f, err := LoadFilter(path, map[string]string{"mode": mode})
			if err != nil {
				t.Errorf("%s[mode=%s]: %v", name, mode, err)
				continue
			}
			variants++
			checkResolved(t, name+"[mode="+mode+"]", f)
		}
	}
	t.Logf("%d of %d filters load cleanly; %d variants with modes", clean, len(files), variants)
}

// leftoverRE finds what must not survive resolution: %(name)s references
// and lower-case <tags> naming options (fail2ban's regex tags are
// upper-case, and Python's (?P<name>...) groups are preceded by "P").
var leftoverRE = regexp.MustCompile(`%\([^)]*\)s|(?:^|[^P])<(?:known/)?[a-z_][a-z0-9_-]*(?:/[a-z_]+)?>`)

func checkResolved(t *testing.T, name string, f *Filter) {
	t.Helper()
	all := append([]string{f.Prefregex, f.Datepattern}, f.Failregex...)
	all = append(all, f.Ignoreregex...)
	for _, v := range all {
		if m := leftoverRE.FindString(v); m != "" {
			t.Errorf("%s: unresolved %q in %q", name, m, v)
		}
	}
}

func TestInstalledSSHDModes(t *testing.T) {
	needInstalled(t)
	path := filepath.Join(installedDir, "filter.d", "sshd.conf")
	normal, err := LoadFilter(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	aggr, err := LoadFilter(path, map[string]string{"mode": "aggressive"})
	if err != nil {
		t.Fatal(err)
	}
	if len(aggr.Failregex) <= len(normal.Failregex) {
		t.Errorf("aggressive has %d failregexes, normal %d", len(aggr.Failregex), len(normal.Failregex))
	}
	if !strings.Contains(normal.Prefregex, "<F-CONTENT>") || strings.Contains(normal.Prefregex, "%(") || strings.Contains(normal.Prefregex, "<__") {
		t.Errorf("prefregex not resolved: %q", normal.Prefregex)
	}
	if normal.Datepattern != "{^LN-BEG}" {
		t.Errorf("datepattern = %q", normal.Datepattern)
	}
	if want := []string{"_SYSTEMD_UNIT=sshd.service", "+", "_COMM=sshd"}; !reflect.DeepEqual(normal.JournalMatch, want) {
		t.Errorf("journalmatch = %q, want %q", normal.JournalMatch, want)
	}
	if normal.MaxLines != 1 {
		t.Errorf("maxlines = %d", normal.MaxLines)
	}
	if !slices.ContainsFunc(normal.Failregex, func(s string) bool { return strings.Contains(s, "<HOST>") }) {
		t.Errorf("no <HOST> left in %q", normal.Failregex)
	}
	if normal.Values["mode"] != "normal" || aggr.Values["mode"] != "aggressive" {
		t.Errorf("mode values: %q, %q", normal.Values["mode"], aggr.Values["mode"])
	}
	journal, err := LoadFilter(path, map[string]string{"logtype": "journal"})
	if err != nil {
		t.Fatal(err)
	}
	if journal.Prefregex == normal.Prefregex {
		t.Errorf("logtype=journal does not change the prefix: %q", journal.Prefregex)
	}
}

func TestInstalledJails(t *testing.T) {
	needInstalled(t)
	j, err := LoadJails(installedDir)
	if err != nil {
		t.Fatal(err)
	}
	names := j.Names()
	if len(names) < 50 || !slices.Contains(names, "sshd") || slices.Contains(names, "INCLUDES") {
		t.Fatalf("jails: %d %q", len(names), names)
	}
	for _, opt := range []string{"logpath", "backend", "port", "filter", "action", "bantime"} {
		v, err := j.Value("sshd", opt)
		if err != nil {
			t.Errorf("sshd %s: %v", opt, err)
			continue
		}
		if v == "" || strings.Contains(v, "%(") {
			t.Errorf("sshd %s = %q", opt, v)
		}
		pos, ok := j.Where("sshd", opt)
		if !ok || pos.Line == 0 {
			t.Errorf("sshd %s: where = %v, %v", opt, pos, ok)
		}
		t.Logf("sshd %s = %q (%s)", opt, v, pos)
	}
	if v, _ := j.Get("sshd", "filter"); v != "sshd[mode=normal]" {
		t.Errorf("sshd filter = %q", v)
	}
	f, err := j.Filter("sshd")
	if err != nil {
		t.Fatal(err)
	}
	direct, err := LoadFilter(filepath.Join(installedDir, "filter.d", "sshd.conf"), map[string]string{"mode": "normal"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Failregex, direct.Failregex) {
		t.Errorf("jail filter differs from the filter loaded directly")
	}
	// The options fail2ban reads resolve in every jail, and every jail's
	// filter loads. (Other options need not: jail.conf's [DEFAULT] has
	// action_ variants that refer to options the user must add first.)
	for _, n := range names {
		for _, o := range jailOptsAll {
			if _, err := j.Value(n, o.name); err != nil && !errors.Is(err, ErrNoOption) {
				t.Errorf("[%s] %s: %v", n, o.name, err)
			}
		}
		if _, err := j.Filter(n); err != nil {
			t.Errorf("[%s] filter: %v", n, err)
		}
	}
	t.Logf("%d jails, enabled: %q", len(names), j.Enabled())
}

// TestInstalledAgainstFail2ban compares every filter, in every mode and
// with logtype=journal, with what the installed fail2ban computes.
func TestInstalledAgainstFail2ban(t *testing.T) {
	files := installedFilters(t)
	var vs []oracleVariant
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".conf")
		vs = append(vs, oracleVariant{Name: name, Args: map[string]string{}})
		for _, m := range filterModes(t, path) {
			vs = append(vs, oracleVariant{Name: name, Args: map[string]string{"mode": m}})
		}
		vs = append(vs, oracleVariant{Name: name, Args: map[string]string{"logtype": "journal"}})
	}
	same := compareFilterOracle(t, installedDir, vs)
	t.Logf("%d of %d filter variants identical to fail2ban's", same, len(vs))
}

// TestInstalledJailsAgainstFail2ban compares every jail's options and
// filter with what the installed fail2ban computes.
func TestInstalledJailsAgainstFail2ban(t *testing.T) {
	needInstalled(t)
	same, n := compareJailOracle(t, installedDir)
	t.Logf("%d of %d jails identical to fail2ban's", same, n)
}
