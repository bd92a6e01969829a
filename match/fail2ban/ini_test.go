package fail2ban

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeConf writes files (name → content) under a temporary directory and
// returns it.
func writeConf(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestParseINI(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string // "section/option" → raw value
		wantErr string
	}{
		{
			name: "delimiters and case",
			in:   "[S]\na = 1\nB: 2\nc=d=e\nf : g = h\n[T] = x\n",
			want: map[string]string{"S/a": "1", "S/b": "2", "S/c": "d=e", "S/f": "g = h"}, // [T] = x is a header
		},
		{
			name: "comments",
			in:   "# top\n; top\n[S]\na = x ; inline\nb = x;kept\nc = x # kept\n  # indented comment\nd = y\n",
			want: map[string]string{"S/a": "x", "S/b": "x;kept", "S/c": "x # kept", "S/d": "y"},
		},
		{
			name: "multi-line values",
			in:   "[S]\na = one\n  two\n\n\t three\n  # comment\n    four\n\nb = x\n\n\n[T]\nc = \n  y\n",
			want: map[string]string{"S/a": "one\ntwo\n\nthree\nfour", "S/b": "x", "T/c": "\ny"},
		},
		{
			name: "a continuation needs more indentation than its option",
			in:   "[S]\n  a = 1\n  b = 2\n   c = 3\n",
			want: map[string]string{"S/a": "1", "S/b": "2\nc = 3"},
		},
		{
			name: "an indented header continues a value",
			in:   "[S]\na = 1\n [T]\n",
			want: map[string]string{"S/a": "1\n[T]"},
		},
		{
			name: "header with trailing text and DEFAULT",
			in:   "[S] trailing\na = 1\n[DEFAULT]\nd = 2\n[DEFAULT]\ne = 3\n",
			want: map[string]string{"S/a": "1", "DEFAULT/d": "2", "DEFAULT/e": "3"},
		},
		{
			name: "CRLF",
			in:   "[S]\r\na = 1\r\n  2\r\n",
			want: map[string]string{"S/a": "1\n2"},
		},
		{name: "no section", in: "a = 1\n", wantErr: "x.conf:1: option outside of any section"},
		{name: "no delimiter", in: "[S]\na = 1\nwords\n", wantErr: "x.conf:3: not a section header"},
		{name: "empty name", in: "[S]\n= 1\n", wantErr: "x.conf:2: option without a name"},
		{name: "duplicate option", in: "[S]\na = 1\nA = 2\n", wantErr: `x.conf:3: option "a" already set`},
		{name: "duplicate section", in: "[S]\n[T]\n[S]\n", wantErr: "x.conf:3: section [S] already exists"},
		{name: "duplicate default option", in: "[DEFAULT]\na = 1\n[DEFAULT]\na = 2\n", wantErr: `x.conf:4: option "a" already set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseINI("x.conf", []byte(tt.in))
			if errorAsWanted(t, err, tt.wantErr) {
				return
			}
			got := map[string]string{}
			for _, s := range append([]*section{f.defaults}, f.sections...) {
				for _, k := range s.keys {
					got[s.name+"/"+k] = s.vals[k].value
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestParseINIPositions(t *testing.T) {
	f, err := parseINI("x.conf", []byte("# c\n[S]\na = 1\n  more\n\nb = 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	for k, line := range map[string]int{"a": 3, "b": 6} {
		if p := f.sections[0].vals[k].pos; p != (Pos{"x.conf", line}) {
			t.Errorf("%s at %v, want line %d", k, p, line)
		}
	}
}

// interpolationConf and interpolationLocal are the a.conf and a.local of
// TestGetInterpolation: every kind of %(...)s reference, good and bad.
const interpolationConf = `
[DEFAULT]
base = /var
log = %(base)s/log
who = %(__name__)s
over = default
deep1 = %(deep2)s
deep2 = %(deep3)s
deep3 = %(deep4)s
deep4 = %(deep5)s
deep5 = %(deep6)s
deep6 = %(deep7)s
deep7 = %(deep8)s
deep8 = %(deep9)s
deep9 = %(deep10)s
deep10 = %(deep11)s
deep11 = end

[S]
file = %(log)s/s.log
over = section
pct = 100%% sure
other = %(t/x)s and %(default/over)s
chain = %(deep3)s
tooDeep = %(deep1)s
self = x %(self)s
loop1 = %(loop2)s
loop2 = %(loop1)s
bad = 5%
bad2 = %(unterminated
missing = a %(nope)s
upper = %(T/x)s
nosec = %(nosuch/x)s

[t]
x = tx
base = /srv
[T]
x = upper
`

const interpolationLocal = `
[S]
over = %(known/over)s+local
file = %(known/file)s
`

// interpolationCase is an option of interpolationConf and what Get must
// make of it.
type interpolationCase struct {
	sec, opt string
	vars     map[string]string
	want     string
	wantErr  string
}

// interpolationCases is one row a reference in interpolationConf, so it
// is long: what Get makes of it.
var interpolationCases = []interpolationCase{
	{sec: "S", opt: "file", want: "/var/log/s.log"},
	{sec: "t", opt: "log", want: "/srv/log"}, // late binding: t's base
	{sec: "S", opt: "who", want: "S"},
	{sec: "DEFAULT", opt: "who", want: "DEFAULT"},
	{sec: "S", opt: "over", want: "section+local"},
	{sec: "t", opt: "over", want: "default"},
	{sec: "S", opt: "pct", want: "100% sure"},
	{sec: "S", opt: "other", want: "tx and default"},
	{sec: "S", opt: "chain", want: "end"},
	{sec: "S", opt: "FILE", want: "/var/log/s.log"},
	{sec: "S", opt: "file", vars: map[string]string{"Base": "/opt"}, want: "/opt/log/s.log"},
	{sec: "S", opt: "tooDeep", wantErr: "nested more than 10 levels"},
	{sec: "S", opt: "self", wantErr: "%(self)s: recursive reference (self -> self)"},
	{sec: "S", opt: "loop1", wantErr: "%(loop1)s: recursive reference (loop1 -> loop2 -> loop1)"},
	{sec: "S", opt: "bad", wantErr: "a.conf:29: bad: '%' must be followed by '%' or '('"},
	{sec: "S", opt: "bad2", wantErr: "bad %(name)s reference"},
	{sec: "S", opt: "missing", wantErr: "a.conf:31: missing: %(nope)s: no such option"},
	{sec: "S", opt: "upper", wantErr: "%(T/x)s: no such option"}, // as in fail2ban: only lower-case section names work
	{sec: "S", opt: "nosec", wantErr: "%(nosuch/x)s: no such option"},
	{sec: "S", opt: "absent", wantErr: "no such option"},
	{sec: "U", opt: "x", wantErr: "no section [U]"},
}

func TestGetInterpolation(t *testing.T) {
	dir := writeConf(t, map[string]string{"a.conf": interpolationConf, "a.local": interpolationLocal})
	c, err := ReadConfig(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range interpolationCases {
		got, err := c.Get(tt.sec, tt.opt, tt.vars)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("[%s] %s: error = %v, want %q", tt.sec, tt.opt, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("[%s] %s = %q, %v; want %q", tt.sec, tt.opt, got, err, tt.want)
		}
	}
	checkGetErrors(t, c, dir)
}

// checkGetErrors: Get's errors wrap the sentinel errors and name the key;
// Raw tells where a value was set.
func checkGetErrors(t *testing.T, c *Config, dir string) {
	t.Helper()
	if _, err := c.Get("S", "absent", nil); !errors.Is(err, ErrNoOption) {
		t.Errorf("absent option: %v does not wrap ErrNoOption", err)
	}
	if _, err := c.Get("U", "x", nil); !errors.Is(err, ErrNoSection) {
		t.Errorf("absent section: %v does not wrap ErrNoSection", err)
	}
	if _, err := c.Get("S", "missing", nil); !errors.Is(err, ErrUndefined) {
		t.Errorf("undefined reference: %v does not wrap ErrUndefined", err)
	}
	if _, err := c.Get("S", "bad", nil); !strings.Contains(err.Error(), "bad: ") {
		t.Errorf("error does not name the key: %v", err)
	}
	if v, pos, ok := c.Raw("S", "over"); !ok || v != "%(known/over)s+local" || pos.File != filepath.Join(dir, "a.local") || pos.Line != 3 {
		t.Errorf("Raw = %q, %v, %v", v, pos, ok)
	}
}

func TestIncludes(t *testing.T) {
	dir := writeConf(t, map[string]string{
		"main.conf": `
[INCLUDES]
before = sub/first.conf
         missing.conf
after = last.conf
        /nonexistent/absolute.conf

[S]
order = %(trace)s main
`,
		"sub/first.conf": `
[INCLUDES]
before = ../loop.conf
[DEFAULT]
trace = first
[S]
from = first
`,
		"sub/first.local": "[DEFAULT]\ntrace = first.local\n",
		"loop.conf": `
[INCLUDES]
# An include loop is cut where it closes.
before = main.conf
[DEFAULT]
looped = yes
`,
		"last.conf":       "[S]\nfrom = last\n",
		"main.d/1.conf":   "[S]\nd = 1.conf\n",
		"main.d/2.local":  "[S]\nd = 2.local\n",
		"main.d/.x.conf":  "[S]\nd = hidden\n",
		"main.d/3.conf":   "[S]\nd = 3.conf\nfrom = drop-in\n",
		"main.local":      "[S]\nd = %(known/d)s, main.local\n",
		"main.d/readme":   "not a config file",
		"other/ign.local": "[S]\nx = 1\n",
	})
	c, err := ReadConfig(filepath.Join(dir, "main"))
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, f := range c.Files() {
		r, _ := filepath.Rel(dir, f)
		rel = append(rel, r)
	}
	want := []string{
		"loop.conf", "sub/first.conf", "sub/first.local", "main.conf", "last.conf",
		"main.d/1.conf", "main.d/3.conf", "main.local", "main.d/2.local",
	}
	if !reflect.DeepEqual(rel, want) {
		t.Errorf("files:\n got  %q\n want %q", rel, want)
	}
	for opt, want := range map[string]string{
		"order":  "first.local main",
		"from":   "drop-in",
		"d":      "2.local",
		"looped": "yes",
	} {
		if got, err := c.Get("S", opt, nil); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", opt, got, err, want)
		}
	}
	// main.local's known/d is 3.conf's value (the one it replaced).
	c2, err := ReadFiles(filepath.Join(dir, "main.d", "3.conf"), filepath.Join(dir, "main.local"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c2.Get("S", "d", nil); err != nil || got != "3.conf, main.local" {
		t.Errorf("d = %q, %v", got, err)
	}
	if _, err := ReadConfig(filepath.Join(dir, "nothing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadConfig of nothing: %v", err)
	}
	if _, err := ReadFiles(filepath.Join(dir, "nothing.conf")); err == nil {
		t.Error("ReadFiles of a missing file: no error")
	}
}

func TestSections(t *testing.T) {
	dir := writeConf(t, map[string]string{
		"a.conf":  "[B]\nx = 1\n[A]\ny = 2\n[DEFAULT]\nz = 3\n[Init?family=inet6]\nv = 6\n",
		"a.local": "[A]\ny = 3\nw = 4\n[C]\n",
	})
	c, err := ReadConfig(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Sections(), []string{"B", "A", "Init", "C"}; !reflect.DeepEqual(got, want) {
		t.Errorf("sections %q, want %q", got, want)
	}
	if got, want := c.Options("A"), []string{"y", "w"}; !reflect.DeepEqual(got, want) {
		t.Errorf("options %q, want %q", got, want)
	}
	if got, want := c.Options("Init"), []string{"v?family=inet6"}; !reflect.DeepEqual(got, want) {
		t.Errorf("conditional options %q, want %q", got, want)
	}
	if got, want := c.Options("DEFAULT"), []string{"z"}; !reflect.DeepEqual(got, want) {
		t.Errorf("defaults %q, want %q", got, want)
	}
	if !c.HasSection("C") || c.HasSection("DEFAULT") {
		t.Error("HasSection")
	}
}

func TestShellOperator(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		want rune
	}{
		{"/usr/local/bin/check --addr IP", 0},
		{`/bin/check 'a|b;c' "d e"`, 0},
		{`/bin/check a\|b`, 0},
		{"/bin/echo IP | /bin/grep -q x", '|'},
		{"/bin/test -n IP && exit 1", '&'},
		{"/bin/check IP > /dev/null", '>'},
		{`/bin/check "$HOME"`, '$'},
		{"/bin/check `id`", '`'},
		{"/bin/check IP; /bin/true", ';'},
	} {
		if got := ShellOperator(tc.cmd); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.want)
		}
	}
}

// errorAsWanted fails the test unless err is as a row wants: with
// wantErr, an error that contains it, and the caller stops there (true);
// without, no error.
func errorAsWanted(t *testing.T, err error, wantErr string) (stop bool) {
	t.Helper()
	if wantErr == "" {
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	if err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Fatalf("error = %v, want %q", err, wantErr)
	}
	return true
}
