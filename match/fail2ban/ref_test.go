package fail2ban

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		args    map[string]string
		wantErr string
	}{
		{in: "sshd", name: "sshd", args: map[string]string{}},
		{in: " sshd ", name: "sshd", args: map[string]string{}},
		{in: "sshd[]", name: "sshd", args: map[string]string{}},
		{in: "sshd[mode=aggressive]", name: "sshd", args: map[string]string{"mode": "aggressive"}},
		{
			in:   `sshd.conf[mode=aggressive, x="a,b"]`,
			name: "sshd.conf", args: map[string]string{"mode": "aggressive", "x": "a,b"},
		},
		{
			in:   `act[a='x, ]y', b=" spaced ", c=plain value, d=]`,
			name: "act", args: map[string]string{"a": "x, ]y", "b": "spaced", "c": "plain value", "d": ""},
		},
		{in: "a[x=1][y=2]", name: "a", args: map[string]string{"x": "1", "y": "2"}},
		{in: "a[x=1, x=2]", name: "a", args: map[string]string{"x": "2"}},
		{in: "a[p.q-r_s=1]", name: "a", args: map[string]string{"p.q-r_s": "1"}},
		{in: "a[x=\"multi\nline\"]", name: "a", args: map[string]string{"x": "multi\nline"}},
		{in: "a[x", wantErr: "unexpected syntax"},
		{in: "[x=1]", wantErr: "unexpected syntax"},
		{in: `a[x="q" junk]`, wantErr: "unexpected syntax at"},
		{in: "a[=1]", wantErr: "expected option"},
		{in: `a[b = 1]`, wantErr: "expected option"},
	}
	for _, tt := range tests {
		name, args, err := ParseRef(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || name != tt.name || !reflect.DeepEqual(args, tt.args) {
			t.Errorf("%q = %q, %q, %v; want %q, %q", tt.in, name, args, err, tt.name, tt.args)
		}
	}
}

func TestSplitRefs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a b\n  c", []string{"a", "b", "c"}},
		{`iptables[name=SSH, port="a b"]  sendmail[dest="x y", z=1]`, []string{`iptables[name=SSH, port="a b"]`, `sendmail[dest="x y", z=1]`}},
		{"act[a=1,\n     b=2]\nother", []string{"act[a=1,\n     b=2]", "other"}},
		{"a [x=1]", []string{"a [x=1]"}},
		{"a[x=1]b c", []string{"a[x=1]b", "c"}},
		{"a[x=1][y=2] b", []string{"a[x=1][y=2]", "b"}},
	}
	for _, tt := range tests {
		if got := SplitRefs(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitRefs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestShellSplit(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"_SYSTEMD_UNIT=sshd.service + _COMM=sshd", []string{"_SYSTEMD_UNIT=sshd.service", "+", "_COMM=sshd"}, false},
		{`A="x y" B='p q' C=a\ b`, []string{"A=x y", "B=p q", "C=a b"}, false},
		{`"a\"b\c" '' x`, []string{`a"b\c`, "", "x"}, false},
		{"  \t ", nil, false},
		{`"open`, nil, true},
		{`end\`, nil, true},
	}
	for _, tt := range tests {
		got, err := ShellSplit(tt.in)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ShellSplit(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
