package fail2ban

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestJailsFixture(t *testing.T) {
	j, err := LoadJails(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	// Order of first appearance; jail.d/.hidden.conf is not read.
	if got, want := j.Names(), []string{"inc", "modes", "journal", "override", "disabled", "noflt", "extra"}; !reflect.DeepEqual(got, want) {
		t.Errorf("names %q, want %q", got, want)
	}
	if got, want := j.Enabled(), []string{"inc", "modes", "journal", "override", "extra"}; !reflect.DeepEqual(got, want) {
		t.Errorf("enabled %q, want %q", got, want)
	}
	var files []string
	for _, f := range j.Files() {
		r, _ := filepath.Rel(fixtureDir, f)
		files = append(files, r)
	}
	if want := []string{"paths.conf", "jail.conf", "jail.d/10-a.conf", "jail.local", "jail.d/20-b.local"}; !reflect.DeepEqual(files, want) {
		t.Errorf("files %q, want %q", files, want)
	}
	tests := []struct {
		jail, opt string
		want      string
		where     string // file:line relative to fixtureDir
		wantErr   error
	}{
		// jail.d/*.local comes after jail.local.
		{jail: "inc", opt: "bantime", want: "2h", where: "jail.d/20-b.local:2"},
		// [DEFAULT] of jail.local overrides jail.conf's.
		{jail: "modes", opt: "bantime", want: "30m", where: "jail.local:2"},
		// %(known/port)s: the value jail.local replaced.
		{jail: "inc", opt: "port", want: "22,2022", where: "jail.local:7"},
		// %(known/port)s: the filter's port (from its argument) comes first.
		{jail: "extra", opt: "port", want: "2222", where: "jail.local:12"},
		{jail: "modes", opt: "port", want: "80", where: "jail.d/10-a.conf:2"},
		// Through [INCLUDES] before = paths.conf, and multi-line.
		{jail: "inc", opt: "logpath", want: "/var/log/demo.log\n/var/log/other.log", where: "jail.conf:20"},
		{jail: "modes", opt: "logpath", want: "/var/log/syslog", where: "jail.conf:12"},
		{jail: "modes", opt: "filter", want: "modes[mode=more]", where: "jail.conf:11"},
		{jail: "inc", opt: "action", want: `demo-ban[port="22,2022", name=inc]`, where: "jail.conf:14"},
		{jail: "inc", opt: "fail2ban_confpath", want: fixtureDir, where: "(built-in)"},
		{jail: "override", opt: "ignoreregex", want: "^jail ignore$", where: "jail.conf:36"},
		{jail: "inc", opt: "nothing", wantErr: ErrNoOption},
		{jail: "INCLUDES", opt: "before", wantErr: ErrNoSection},
		{jail: "KNOWN/inc", opt: "port", wantErr: ErrNoSection},
		{jail: "nosuchjail", opt: "port", wantErr: ErrNoSection},
	}
	for _, tt := range tests {
		got, err := j.Value(tt.jail, tt.opt)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("[%s] %s: error = %v, want %v", tt.jail, tt.opt, err, tt.wantErr)
			}
			if v, ok := j.Get(tt.jail, tt.opt); ok || v != "" {
				t.Errorf("[%s] %s: Get = %q, %v", tt.jail, tt.opt, v, ok)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("[%s] %s = %q, %v; want %q", tt.jail, tt.opt, got, err, tt.want)
		}
		pos, ok := j.Where(tt.jail, tt.opt)
		where := pos.String()
		if rel, err := filepath.Rel(fixtureDir, pos.File); err == nil && !strings.HasPrefix(rel, "..") {
			where = (Pos{rel, pos.Line}).String()
		}
		if !ok || where != tt.where {
			t.Errorf("[%s] %s set at %s, want %s", tt.jail, tt.opt, where, tt.where)
		}
	}
	// The failregex that refers to the filter's own (%(known/failregex)s).
	if v, err := j.Value("override", "failregex"); err != nil || !strings.HasSuffix(v, "\n^jail rule <HOST>$") || strings.Count(v, "\n") != 3 {
		t.Errorf("override failregex = %q, %v", v, err)
	}
	if got := j.Options("noflt"); len(got) == 0 || got[0] != "filter" {
		t.Errorf("options %q", got)
	}
}

func TestJailFilters(t *testing.T) {
	j, err := LoadJails(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	incFail := []string{
		`^error: bad login from <HOST>$`,
		`^error: bad user <F-USER>\S+</F-USER> from <ADDR>$`,
		`^error: local rule for <HOST>$`,
	}
	tests := []struct {
		jail      string
		fail      []string
		ignore    []string
		prefregex string
		maxlines  int
	}{
		{jail: "inc", fail: incFail, ignore: []string{`^error: ignore me$`}, prefregex: `^\S+ demo(?:\[\d+\]|\(\d+\))?:\s+<F-CONTENT>.+</F-CONTENT>$`, maxlines: 2},
		// backend = systemd: logtype journal.
		{jail: "journal", fail: incFail, prefregex: `^demo:\s+<F-CONTENT>.+</F-CONTENT>$`, maxlines: 2},
		// The jail's failregex replaces the filter's, which it includes through
		// known/; its maxlines loses against the filter's [Init] maxlines.
		{jail: "override", fail: append(append([]string{}, incFail...), `^jail rule <HOST>$`), ignore: []string{`^jail ignore$`}, maxlines: 2},
		{jail: "modes", fail: []string{"^common <HOST>$", "^extra <HOST>$", "^more <HOST>$"}, maxlines: 1},
		{jail: "disabled", fail: []string{"^common <HOST>$"}, maxlines: 1},
		{jail: "extra", fail: []string{`^port 2222 user a b,c from <HOST>$`, `^known \S+ from <HOST>$`, `^pct 2222 from <HOST>$`}, maxlines: 1},
	}
	for _, tt := range tests {
		f, err := j.Filter(tt.jail)
		if err != nil {
			t.Errorf("[%s]: %v", tt.jail, err)
			continue
		}
		if !reflect.DeepEqual(f.Failregex, tt.fail) {
			t.Errorf("[%s] failregex\n got  %q\n want %q", tt.jail, f.Failregex, tt.fail)
		}
		if tt.ignore != nil && !reflect.DeepEqual(f.Ignoreregex, tt.ignore) {
			t.Errorf("[%s] ignoreregex %q, want %q", tt.jail, f.Ignoreregex, tt.ignore)
		}
		if tt.prefregex != "" && f.Prefregex != tt.prefregex {
			t.Errorf("[%s] prefregex %q, want %q", tt.jail, f.Prefregex, tt.prefregex)
		}
		if f.MaxLines != tt.maxlines {
			t.Errorf("[%s] maxlines %d, want %d", tt.jail, f.MaxLines, tt.maxlines)
		}
	}
	if f, err := j.Filter("noflt"); f != nil || err != nil {
		t.Errorf("[noflt] = %v, %v; want no filter", f, err)
	}
	if _, err := j.Filter("nosuchjail"); !errors.Is(err, ErrNoSection) {
		t.Errorf("unknown jail: %v", err)
	}
}

func TestJailsErrors(t *testing.T) {
	if _, err := LoadJails(t.TempDir()); err == nil {
		t.Error("no jail.conf: no error")
	}
	dir := writeConf(t, map[string]string{
		"jail.conf": "[a]\nenabled = %(missing)s\nfilter = nofilter\n[b]\nenabled = TRUE\nfilter = bad[x\n[c]\nenabled = On\n",
	})
	j, err := LoadJails(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.IsEnabled("a"); err == nil || !strings.Contains(err.Error(), "jail.conf:2: enabled: %(missing)s: no such option") {
		t.Errorf("IsEnabled(a): %v", err)
	}
	if got := j.Enabled(); !reflect.DeepEqual(got, []string{"b", "c"}) {
		t.Errorf("enabled %q", got)
	}
	if _, err := j.Filter("b"); err == nil || !strings.Contains(err.Error(), "jail.conf:6: filter:") {
		t.Errorf("bad filter reference: %v", err)
	}
	if _, err := j.Filter("a"); err == nil {
		t.Error("missing filter: no error")
	}
}

func TestParseBool(t *testing.T) {
	for s, want := range map[string]bool{"1": true, "on": true, "TRUE": true, "Yes": true, "0": false, "off": false, "false": false, "": false, "y": false, " true": false} {
		if ParseBool(s) != want {
			t.Errorf("ParseBool(%q) != %v", s, want)
		}
	}
}
