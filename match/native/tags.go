package native

import (
	"fmt"
	"regexp"
	"strings"
)

// Address sub-patterns. They are deliberately liberal; every capture is
// checked with netip.ParseAddr afterwards, so a loose pattern can never
// yield an invalid address, only a miss.
const (
	ipv4Pattern = `\d{1,3}(?:\.\d{1,3}){3}`
	ipv6Pattern = `[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]{1,38}(?:\.\d{1,3}){0,3}`
	// An address is optionally bracketed ("[2001:db8::1]"), as some daemons log IPv6.
	addrPattern = `\[?(?P<%s>` + ipv4Pattern + `|` + ipv6Pattern + `)\]?`
)

// Capture group names the matcher understands.
const (
	groupHost    = "host"
	groupAddr    = "addr"
	groupUser    = "user"
	groupContent = "content"
	// groupNoFail marks a pattern (or the part of it that matched) as
	// recognised but not a failure, as fail2ban's <F-NOFAIL> does.
	groupNoFail = "nofail"
	// groupMLFID is a connection's id (<F-MLFID>), written by the
	// program: a pid, a queue id, conn=N. Lines of one connection share
	// what they found (see conn.go).
	groupMLFID = "mlfid"
	// groupForget marks a connection's end: its state is forgotten.
	groupForget = "mlfforget"
	// groupGained marks access gained on a connection: the line is no
	// failure, and the connection's failures not counted yet (no address
	// known) are dropped.
	groupGained = "mlfgained"
)

var fieldTag = regexp.MustCompile(`<(/?)F-([A-Za-z][A-Za-z0-9_]*)>`)

// expandTags turns logjail's (fail2ban-style) tags into RE2 syntax:
// <HOST> and <ADDR> become a named address capture; <F-NAME>…</F-NAME>
// becomes the named group "name". It reports whether the pattern captures an
// address.
func expandTags(pattern string) (string, bool, error) {
	hasAddr := false
	for _, tag := range []struct{ tag, group string }{{"<HOST>", groupHost}, {"<ADDR>", groupAddr}} {
		n := strings.Count(pattern, tag.tag)
		if n > 1 {
			return "", false, fmt.Errorf("%s appears %d times; a pattern captures one address", tag.tag, n)
		}
		if n == 1 {
			if hasAddr {
				return "", false, fmt.Errorf("both <HOST> and <ADDR>; a pattern captures one address")
			}
			hasAddr = true
			pattern = strings.Replace(pattern, tag.tag, fmt.Sprintf(addrPattern, tag.group), 1)
		}
	}
	var err error
	open := map[string]int{}
	pattern = fieldTag.ReplaceAllStringFunc(pattern, func(tag string) string {
		m := fieldTag.FindStringSubmatch(tag)
		name := strings.ToLower(m[2])
		if m[1] == "/" {
			open[name]--
			if open[name] < 0 && err == nil {
				err = fmt.Errorf("</F-%s> without <F-%s>", m[2], m[2])
			}
			return ")"
		}
		open[name]++
		if name == groupHost || name == groupAddr {
			hasAddr = true
		}
		return "(?P<" + name + ">"
	})
	if err != nil {
		return "", false, err
	}
	for name, n := range open {
		if n != 0 {
			return "", false, fmt.Errorf("<F-%s> is not closed", strings.ToUpper(name))
		}
	}
	return pattern, hasAddr, nil
}
