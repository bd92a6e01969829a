package fail2ban

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func fixture(name string) string { return filepath.Join(fixtureDir, "filter.d", name+".conf") }

// filterFixture is a fixture, the arguments it is loaded with and the
// filter (or error) it must give.
type filterFixture struct {
	name    string
	args    map[string]string
	want    *Filter // only the fields set are compared (Failregex always)
	values  map[string]string
	wantErr string
}

// filterFixtures is one row a fixture in testdata/conf/filter.d and the
// arguments it is loaded with, so it is long.
var filterFixtures = []filterFixture{
	{
		// base.conf via [INCLUDES] before (plus its own after = base.local),
		// a missing include, after.conf, inc.d/*.conf, inc.local
		// extending failregex with %(known/failregex)s, inc.d/*.local
		// overriding [Init].
		name: "inc",
		want: &Filter{
			Prefregex: `^\S+ demo(?:\[\d+\]|\(\d+\))?:\s+<F-CONTENT>.+</F-CONTENT>$`,
			Failregex: []string{
				`^error: bad login from <HOST>$`,
				`^error: bad user <F-USER>\S+</F-USER> from <ADDR>$`,
				`^error: local rule for <HOST>$`,
			},
			Ignoreregex:  []string{`^error: ignore me$`},
			Datepattern:  "{^LN-BEG}",
			MaxLines:     2,
			JournalMatch: []string{"_SYSTEMD_UNIT=demo.service", "+", "_COMM=demo"},
		},
		values: map[string]string{"tail": "after", "level": "error", "known/level": "error", "logtype": "file", "_daemon": "demo"},
	},
	{
		name: "inc",
		args: map[string]string{"level": "crit", "logtype": "journal"},
		want: &Filter{
			Prefregex:   `^demo:\s+<F-CONTENT>.+</F-CONTENT>$`,
			Failregex:   []string{`^crit: bad login from <HOST>$`, `^crit: bad user <F-USER>\S+</F-USER> from <ADDR>$`, `^crit: local rule for <HOST>$`},
			Datepattern: "{^LN-BEG}",
		},
		values: map[string]string{"level": "crit", "known/level": "error"},
	},
	{
		name:   "syntax",
		want:   &Filter{Failregex: []string{"first", "second after a blank line", "third (tab-indented)"}},
		values: map[string]string{"a": "one", "b": "two;not a comment", "c": "three # not a comment either", "d": "colon", "e": "upper-case name", "empty": "", "spaced": "x   y", "pct": "100%", "eq": "a=b:c", "tail": "end"},
	},
	{name: "modes", want: &Filter{Failregex: []string{"^common <HOST>$"}}, values: map[string]string{"named": "Definition"}},
	{name: "modes", args: map[string]string{"mode": "extra"}, want: &Filter{Failregex: []string{"^common <HOST>$", "^extra <HOST>$"}}},
	{name: "modes", args: map[string]string{"mode": "more"}, want: &Filter{Failregex: []string{"^common <HOST>$", "^extra <HOST>$", "^more <HOST>$"}}},
	{
		// Arguments are visible to %(port)s; <known/user> is the [Init] value.
		name: "args", args: map[string]string{"port": "2222", "user": "a b,c"},
		want: &Filter{Failregex: []string{`^port 2222 user a b,c from <HOST>$`, `^known \S+ from <HOST>$`, `^pct 2222 from <HOST>$`}},
	},
	{
		// Without the argument, [Init] values are tags only, not %(...)s.
		name: "args", wantErr: "args.conf:6: failregex: %(port)s: no such option",
	},
	{
		// A tag inside an argument is substituted like any other.
		name: "quoted", args: map[string]string{"list": "<HOST>|x"},
		want: &Filter{Failregex: []string{`^<HOST>|x <HOST>$`}},
	},
	{
		// Conditional options (Definition?family=inet6) are kept apart, and
		// the plain tag of the same name is left alone, as fail2ban does.
		name: "cond", want: &Filter{Failregex: []string{`^<x> <HOST>$`}},
		values: map[string]string{"x": "plain", "x?family=inet6": "six"},
	},
	{
		name: "maxlines",
		want: &Filter{Failregex: []string{"^a <HOST>$"}, MaxLines: 1, JournalMatch: []string{"SYSLOG_IDENTIFIER=my app", "PRIORITY=3", "+", "_COMM=other"}},
	},
	{name: "loop", wantErr: "loop.conf:3: b: %(a)s: recursive reference (failregex -> a -> b -> a) (resolving [Definition] failregex)"},
	{name: "tagloop", wantErr: "tagloop.conf:4: failregex: <a>: recursive tag reference"},
	{name: "undefined", wantErr: "undefined.conf:3: failregex: %(missing)s: no such option"},
	{name: "percent", wantErr: "percent.conf:2: failregex: '%' must be followed by '%' or '('"},
	{name: "dupopt", wantErr: `dupopt.conf:3: option "failregex" already set`},
	{name: "nodelim", wantErr: "nodelim.conf:3: not a section header"},
	{name: "nosection", wantErr: "nosection.conf:1: option outside of any section"},
	{name: "base", wantErr: "no [Definition] section"},
	{name: "absent", wantErr: "absent.conf or testdata/conf/filter.d/absent.local: file does not exist"},
}

func TestLoadFilterFixtures(t *testing.T) {
	for _, tt := range filterFixtures {
		t.Run(tt.name+fmtArgs(tt.args), func(t *testing.T) {
			f, err := LoadFilter(fixture(tt.name), tt.args)
			if errorAsWanted(t, err, tt.wantErr) {
				return
			}
			w := tt.want
			if !reflect.DeepEqual(f.Failregex, w.Failregex) {
				t.Errorf("failregex:\n got  %q\n want %q", f.Failregex, w.Failregex)
			}
			if w.Prefregex != "" && f.Prefregex != w.Prefregex {
				t.Errorf("prefregex = %q, want %q", f.Prefregex, w.Prefregex)
			}
			if w.Ignoreregex != nil && !reflect.DeepEqual(f.Ignoreregex, w.Ignoreregex) {
				t.Errorf("ignoreregex = %q, want %q", f.Ignoreregex, w.Ignoreregex)
			}
			if w.Datepattern != "" && f.Datepattern != w.Datepattern {
				t.Errorf("datepattern = %q, want %q", f.Datepattern, w.Datepattern)
			}
			if w.MaxLines != 0 && f.MaxLines != w.MaxLines {
				t.Errorf("maxlines = %d, want %d", f.MaxLines, w.MaxLines)
			}
			if w.JournalMatch != nil && !reflect.DeepEqual(f.JournalMatch, w.JournalMatch) {
				t.Errorf("journalmatch = %q, want %q", f.JournalMatch, w.JournalMatch)
			}
			for k, v := range tt.values {
				if got, ok := f.Values[k]; !ok || got != v {
					t.Errorf("Values[%q] = %q, %v; want %q", k, got, ok, v)
				}
			}
			if f.Path != fixture(tt.name) {
				t.Errorf("path = %q", f.Path)
			}
		})
	}
}

func TestLoadFilterDetails(t *testing.T) {
	f, err := LoadFilter(fixture("maxlines"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], `maxlines.conf:3: maxlines: "many"`) {
		t.Errorf("warnings = %q", f.Warnings)
	}
	// The same filter by its .local name or without extension.
	for _, p := range []string{
		filepath.Join(fixtureDir, "filter.d", "inc.local"),
		filepath.Join(fixtureDir, "filter.d", "inc"),
	} {
		g, err := LoadFilter(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if g.Path != fixture("inc") || len(g.Failregex) != 3 {
			t.Errorf("%s: path %q, %d failregexes", p, g.Path, len(g.Failregex))
		}
	}
	inc, err := LoadFilter(fixture("inc"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, f := range inc.Files {
		r, _ := filepath.Rel(filepath.Join(fixtureDir, "filter.d"), f)
		rel = append(rel, r)
	}
	// base.local twice: once as base.conf's companion, once as its "after".
	want := []string{"base.conf", "base.local", "base.local", "inc.conf", "after.conf", "inc.d/10-dropin.conf", "inc.local", "inc.d/20-dropin.local"}
	if !reflect.DeepEqual(rel, want) {
		t.Errorf("files:\n got  %q\n want %q", rel, want)
	}
	_, err = LoadFilter(fixture("undefined"), nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "failregex" || ce.Pos.Line != 3 || !errors.Is(err, ErrUndefined) {
		t.Errorf("error %#v", err)
	}
}

func TestSubstituteTags(t *testing.T) {
	opts := func(kv ...string) *options {
		o := newOptions()
		for i := 0; i < len(kv); i += 2 {
			o.set(kv[i], entry{value: kv[i+1]})
		}
		return o
	}
	tests := []struct {
		name    string
		in      *options
		ignore  map[string]bool
		extra   map[string]string
		want    map[string]string
		wantErr string
	}{
		{
			name: "recursive",
			in:   opts("a", "<b>-<c>", "b", "[<c>]", "c", "x"),
			want: map[string]string{"a": "[x]-x", "b": "[x]", "c": "x"},
		},
		{
			name: "nested names",
			in:   opts("re", "<re-<mode>>", "mode", "two", "re-one", "1", "re-two", "2 <HOST>"),
			want: map[string]string{"re": "2 <HOST>", "mode": "two", "re-one": "1", "re-two": "2 <HOST>"},
		},
		{
			name: "unknown tags stay",
			in:   opts("a", "<HOST> <F-USER>x</F-USER> (?P<grp>y) <with space> <b>", "b", ""),
			want: map[string]string{"a": "<HOST> <F-USER>x</F-USER> (?P<grp>y) <with space> ", "b": ""},
		},
		{
			name:  "fallback",
			in:    opts("a", "<sec/x> <known/y> <HOST>"),
			extra: map[string]string{"sec/x": "X", "known/y": "<z>", "z": "Z"},
			want:  map[string]string{"a": "X Z <HOST>"},
		},
		{
			name:   "ignored",
			in:     opts("a", "<b> <c>", "b", "<c>", "c", "C"),
			ignore: map[string]bool{"b": true},
			want:   map[string]string{"a": "<b> C", "b": "<c>", "c": "C"},
		},
		{name: "self", in: opts("a", "x<a>"), wantErr: "a: <a>: recursive tag reference"},
		{name: "cycle", in: opts("a", "<b>", "b", "<c>", "c", "<a>"), wantErr: "recursive tag reference"},
		{name: "growing cycle", in: opts("a", "<b>", "b", "x <a>"), wantErr: "recursive tag reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := substituteTags(tt.in, tt.ignore, func(n string) (string, bool, error) {
				v, ok := tt.extra[n]
				return v, ok, nil
			})
			if errorAsWanted(t, err, tt.wantErr) {
				return
			}
			m := map[string]string{}
			for _, k := range got.keys {
				m[k] = got.vals[k].value
			}
			if !reflect.DeepEqual(m, tt.want) {
				t.Errorf("got  %q\nwant %q", m, tt.want)
			}
		})
	}
}
