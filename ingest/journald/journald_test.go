package journald

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// These tests need neither cgo nor libsystemd: configuration is checked
// before the library is looked for.

func TestNewRejectsBadMatch(t *testing.T) {
	for _, tc := range []struct {
		match []string
		want  string // in the error
	}{
		{[]string{"ssh"}, `"ssh"`},
		{[]string{""}, `""`},
		{[]string{"=ssh.service"}, `"=ssh.service"`},
		{[]string{"_systemd_unit=ssh.service"}, `"_systemd_unit=ssh.service"`},
		{[]string{"_SYSTEMD_UNIT=a", "UNIT NAME=x"}, `"UNIT NAME=x"`},
		{[]string{"FÖÖ=x"}, `"FÖÖ=x"`},
		{[]string{"__CURSOR=x"}, "address field"},
		{[]string{"+", "A=1"}, "at the start"},
		{[]string{"A=1", "+"}, "at the end"},
		{[]string{"A=1", "+", "+", "B=2"}, "twice"},
		{[]string{"+"}, "at the start"},
	} {
		_, err := New(Config{Match: tc.match}, nil, nil)
		if err == nil {
			t.Errorf("match %q: accepted", tc.match)
			continue
		}
		if errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("match %q: error %q does not name %s", tc.match, err, tc.want)
		}
	}
}

func TestCheckMatchAccepts(t *testing.T) {
	for _, m := range [][]string{
		nil,
		{"_SYSTEMD_UNIT=ssh.service"},
		{"_SYSTEMD_UNIT=ssh.service", "+", "_SYSTEMD_UNIT=sshd.service"},
		{"_SYSTEMD_UNIT=ssh.service", "PRIORITY=3", "+", "SYSLOG_IDENTIFIER=sshd"},
		{"MESSAGE=a=b c", "FIELD="}, // values may hold anything, even nothing
		{"_1=x", "9FIELD=y"},
	} {
		if err := checkMatch(m); err != nil {
			t.Errorf("%q: %v", m, err)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Namespace: "a", Directory: "/tmp"}, "exclude"},
		{Config{Directory: "/tmp", Files: []string{"/x.journal"}}, "exclude"},
		{Config{Namespace: "*"}, "not supported"},
		{Config{Namespace: "+sec"}, "not supported"},
		{Config{Namespace: "a/b"}, `"a/b"`},
		{Config{Namespace: ".."}, `".."`},
		{Config{Files: []string{""}}, "empty file"},
	} {
		_, err := New(tc.cfg, nil, nil)
		if err == nil || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %s", tc.cfg, err, tc.want)
		}
	}
}

func TestMakeEntry(t *testing.T) {
	now := time.Now()
	const rt = 1_700_000_000_123_456
	for _, tc := range []struct {
		name   string
		fields map[string]string
		msg    string
		time   time.Time
	}{
		{"syslog fields", map[string]string{"_HOSTNAME": "web1", "SYSLOG_IDENTIFIER": "sshd", "SYSLOG_PID": "12", "_COMM": "sshd-session", "_PID": "13", "MESSAGE": "Failed password"},
			"web1 sshd[12]: Failed password", time.UnixMicro(rt)},
		{"trusted fields", map[string]string{"_HOSTNAME": "web1", "_COMM": "cron", "_PID": "13", "MESSAGE": "m", "_SOURCE_REALTIME_TIMESTAMP": "1600000000000001"},
			"web1 cron[13]: m", time.UnixMicro(1_600_000_000_000_001)},
		{"no pid", map[string]string{"SYSLOG_IDENTIFIER": "kernel", "MESSAGE": "m", "_SOURCE_REALTIME_TIMESTAMP": "bad"},
			"kernel: m", time.UnixMicro(rt)},
		{"no ident", map[string]string{"_HOSTNAME": "h", "_PID": "3", "MESSAGE": "m"}, "h m", time.UnixMicro(rt)},
		{"nothing", map[string]string{}, "", time.UnixMicro(rt)},
		{"binary", map[string]string{"MESSAGE": "a\xffb\x00c"}, "a\uFFFDbc", time.UnixMicro(rt)},
		{"leading space, BOM and CRLF", map[string]string{"_HOSTNAME": "vm", "SYSLOG_IDENTIFIER": "sshd", "_PID": "4001", "MESSAGE": " \uFEFFFailed password\r\n"},
			"vm sshd[4001]: Failed password", time.UnixMicro(rt)},
		{"embedded line ends", map[string]string{"SYSLOG_IDENTIFIER": "app", "MESSAGE": "one\ntwo\r\nthree"}, "app: one two  three", time.UnixMicro(rt)},
	} {
		e, ok := makeEntry(tc.fields, rt, "s=1;i=2", "journald:", now)
		if !ok {
			t.Errorf("%s: not delivered", tc.name)
			continue
		}
		if e.Message != tc.msg || !e.Time.Equal(tc.time) || !e.ReadAt.Equal(now) {
			t.Errorf("%s: got %q at %v, want %q at %v", tc.name, e.Message, e.Time, tc.msg, tc.time)
		}
		if _, has := e.Fields["MESSAGE"]; has {
			t.Errorf("%s: MESSAGE kept in Fields", tc.name)
		}
		if string(e.Pos.Value) != "s=1;i=2" || e.Pos.Key != "journald:" {
			t.Errorf("%s: position %+v", tc.name, e.Pos)
		}
	}
	if _, ok := makeEntry(map[string]string{"MESSAGE": strings.Repeat("x", MaxMessage+1)}, rt, "", "", now); ok {
		t.Error("message over MaxMessage delivered")
	}
	e, ok := makeEntry(map[string]string{"MESSAGE": strings.Repeat("x", MaxMessage), "BIG": strings.Repeat("y", MaxField+1), "BIN": "\xfe"}, rt, "", "", now)
	if !ok {
		t.Fatal("message of MaxMessage bytes not delivered")
	}
	if _, has := e.Fields["BIG"]; has {
		t.Error("field over MaxField kept")
	}
	if e.Fields["BIN"] != "\uFFFD" {
		t.Errorf("binary field %q not sanitised", e.Fields["BIN"])
	}
}

func TestSameEntry(t *testing.T) {
	a := "s=aa;i=5;b=b1;m=10;t=20;x=1"
	for _, tc := range []struct {
		b    string
		same bool
	}{
		{"s=cc;i=9;b=b1;m=10;t=20;x=2", true},
		{"s=aa;i=5;b=b1;m=11;t=20;x=1", false},
		{"s=aa;i=5;b=b2;m=10;t=20;x=1", false},
		{"s=aa;i=5;b=b1;m=10;t=21;x=1", false},
		{"garbage", false},
	} {
		if got := sameEntry(a, tc.b); got != tc.same {
			t.Errorf("sameEntry(%q, %q) = %v", a, tc.b, got)
		}
	}
	if sameEntry("s=aa", "s=aa") {
		t.Error("cursors without timestamps taken as the same entry")
	}
}
