package fail2ban

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzINI reads any bytes as a fail2ban configuration file and resolves
// every option of every section, %(name)s references included. Neither may
// panic; an error names the file and a line of it; a value without '%'
// comes back as written.
func FuzzINI(f *testing.F) {
	for _, s := range []string{
		"[INCLUDES]\nbefore = common.conf\n[DEFAULT]\n_daemon = sshd\n[Definition]\nprefregex = ^%(__prefix_line)s<F-CONTENT>.+</F-CONTENT>$\nfailregex = ^Failed for <HOST>\n            ^Invalid user\nignoreregex =\n[Init]\nmaxlines = 1\n",
		"[S]\na = 1\n  more\n\nb: %(a)s and %%\nc = %(t/x)s %(default/b)s %(known/a)s\n[T]\nx = y\n[S?family=inet6]\na = 6\n",
		"[DEFAULT]\na = %(b)s\nb = %(a)s\n[S]\nc = %(a)s\n",
		"[S]\na = %(\nb = %x\nc = 100%\n",
		"[S]\na = 1 ; comment\n# c\n; c\n\tb = 2\n[S]\n",
		"a = outside\n", "[]\n", "[S]\n=x\n", "\r\n[S]\r\na=\r\n  b\r",
		"[DEFAULT]\nd0 = %(d1)s\nd1 = %(d2)s\nd2 = %(d3)s\nd3 = %(d4)s\nd4 = %(d5)s\nd5 = %(d6)s\nd6 = %(d7)s\nd7 = %(d8)s\nd8 = %(d9)s\nd9 = %(d10)s\nd10 = %(d11)s\nd11 = %%\n",
	} {
		f.Add([]byte(s))
	}
	// fail2ban's installed filters, read at run time (GPL: not copied here).
	if files, _ := filepath.Glob("/etc/fail2ban/filter.d/*.conf"); len(files) > 0 {
		for _, name := range files[:min(len(files), 20)] {
			if data, err := os.ReadFile(name); err == nil {
				f.Add(data)
			}
		}
	}
	const path = "fuzz.conf"
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := len(splitLines(string(data)))
		ini, err := parseINI(path, data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Pos.File != path || ce.Pos.Line < 1 || ce.Pos.Line > lines {
				t.Fatalf("error %q does not name a line of %s (%d lines)", err, path, lines)
			}
			return
		}
		c := newConfig()
		c.merge(ini)
		secs := append([]string{defaultSection}, c.Sections()...)
		for _, sec := range secs {
			for _, opt := range c.optionsWithDefaults(sec) {
				if opt != strings.ToLower(opt) {
					// "[S?Cond=X]" lists "a?Cond=X" as written, as fail2ban
					// does, and a lookup lower-cases the name: not found
					// there either (testdata/fuzz/FuzzINI/54981a0cc3f21963).
					continue
				}
				raw, pos, ok := c.Raw(sec, opt)
				if !ok || pos.File != path || pos.Line < 1 || pos.Line > lines {
					t.Fatalf("[%s] %s: raw value at %v, ok %v", sec, opt, pos, ok)
				}
				v, err := c.Get(sec, opt, nil)
				if err != nil {
					var ce *Error
					if !errors.As(err, &ce) || ce.Pos.File == "" || ce.Msg == "" {
						t.Fatalf("[%s] %s: error %q names no place", sec, opt, err)
					}
				} else if !strings.Contains(raw, "%") && v != raw {
					t.Fatalf("[%s] %s: %q became %q", sec, opt, raw, v)
				}
				if _, _, _, err := c.getEx(sec, "known/"+opt, nil); err != nil && !strings.Contains(err.Error(), path) {
					t.Fatalf("[%s] known/%s: error %q names no place", sec, opt, err)
				}
			}
		}
	})
}
