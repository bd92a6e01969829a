package ingest

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLayout(t *testing.T) {
	cases := []struct {
		name                string
		host, tag, pid, msg string
		want                string
	}{
		{"full", "vm", "sshd", "4001", "Failed password", "vm sshd[4001]: Failed password"},
		{"no pid", "vm", "cron", "", "job", "vm cron: job"},
		{"no tag drops the pid", "vm", "", "7", "m", "vm m"},
		{"no host", "", "kernel", "", "m", "kernel: m"},
		{"message only", "", "", "", "sshd[1]: m", "sshd[1]: m"},
		{"no message", "vm", "sshd", "1", "", "vm sshd[1]:"},
		{"nothing", "", "", "", "", ""},
		{"host only", "vm", "", "", "", "vm"},
		// rsyslog's RSYSLOG_SyslogProtocol23Format: MSG after a space.
		{"leading space", "vm", "sshd", "4001", " Failed password", "vm sshd[4001]: Failed password"},
		{"leading whitespace", "vm", "sshd", "4001", " \t  Failed password", "vm sshd[4001]: Failed password"},
		{"BOM", "vm", "sshd", "4001", "\uFEFFFailed password", "vm sshd[4001]: Failed password"},
		{"space then BOM", "vm", "sshd", "4001", " \uFEFF Failed password", "vm sshd[4001]: Failed password"},
		{"BOM inside is kept", "vm", "a", "", "x\uFEFFy", "vm a: x\uFEFFy"},
		{"trailing CRLF", "vm", "sshd", "1", "Failed password\r\n", "vm sshd[1]: Failed password"},
		{"trailing whitespace and NUL", "vm", "sshd", "1", "m \t\x00\n", "vm sshd[1]: m"},
		{"embedded line ends", "h", "app", "2", "one\ntwo\r\nthree", "h app[2]: one two  three"},
		{"embedded NUL", "h", "app", "2", "one\x00two", "h app[2]: onetwo"},
		{"invalid UTF-8", "h", "app", "", "bad \xff\xfe end", "h app: bad \uFFFD end"},
		{"invalid UTF-8 split by NUL", "h", "app", "", "a\xff\x00\xfeb", "h app: a\uFFFD\uFFFDb"},
		{"truncated rune at the end", "h", "app", "", "ab\xe2\x82", "h app: ab\uFFFD"},
		{"valid multibyte", "h", "app", "", "grüße 日本", "h app: grüße 日本"},
		{"whitespace-only message", "h", "app", "1", " \r\n", "h app[1]:"},
		{"parts are cleaned too", " h\n", "ss\nhd ", "1\x00", "m", "h ss hd[1]: m"},
		{"invalid host", "h\xff", "app", "", "m", "h\uFFFD app: m"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Layout(tc.host, tc.tag, tc.pid, tc.msg); got != tc.want {
				t.Errorf("Layout(%q, %q, %q, %q) = %q, want %q", tc.host, tc.tag, tc.pid, tc.msg, got, tc.want)
			}
		})
	}
}

func TestLayoutAllocations(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		max  float64
	}{
		{"clean", "Failed password for root from 192.0.2.1 port 22 ssh2", 1},
		{"leading space and CRLF", " Failed password for root from 192.0.2.1 port 22 ssh2\r\n", 1},
		{"embedded newline", "a\nb", 1},
	} {
		n := testing.AllocsPerRun(100, func() { _ = Layout("web1", "sshd", "4001", tc.msg) })
		if n > tc.max {
			t.Errorf("%s: %v allocations, want at most %v", tc.name, n, tc.max)
		}
	}
}

func TestCleanField(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                "plain",
		"two\nlines":           "two\nlines",
		"a\xffb\x00c":          "a\uFFFDbc",
		"\x00":                 "",
		strings.Repeat("é", 3): "ééé",
	} {
		if got := CleanField(in); got != want {
			t.Errorf("CleanField(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzLayout(f *testing.F) {
	f.Add("vm", "sshd", "1", "msg")
	f.Add("", "", "", "a\xff\x00\nb")
	f.Fuzz(func(t *testing.T, host, tag, pid, msg string) {
		got := Layout(host, tag, pid, msg)
		if strings.ContainsAny(got, "\x00\r\n") || !utf8.ValidString(got) {
			t.Fatalf("line end, NUL or invalid UTF-8 in %q", got)
		}
		if got != strings.Trim(got, " \t\v\f") {
			t.Fatalf("whitespace at the ends of %q", got)
		}
		// What a sender puts around MSG does not change the line.
		for _, m := range []string{" " + msg, "\uFEFF" + msg, " \uFEFF" + msg, msg + "\r\n", msg + "\n\x00"} {
			if other := Layout(host, tag, pid, m); other != got {
				t.Fatalf("MSG %q gives %q, MSG %q gives %q", msg, got, m, other)
			}
		}
	})
}

func BenchmarkLayout(b *testing.B) {
	for _, bc := range []struct{ name, msg string }{
		{"clean", "Failed password for invalid user admin from 203.0.113.45 port 51234 ssh2"},
		{"rsyslog 5424", " Failed password for invalid user admin from 203.0.113.45 port 51234 ssh2"},
		{"embedded newline", "Failed password for invalid user admin\nfrom 203.0.113.45 port 51234 ssh2"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Layout("web1", "sshd", "32708", bc.msg)
			}
		})
	}
}
