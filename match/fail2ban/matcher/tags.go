package matcher

import (
	"fmt"
	"strconv"
	"strings"
)

// Groups with a meaning of their own in fail2ban's failure (its "user"
// and the prefregex's "content").
const (
	groupUser    = "user"
	groupContent = "content"
)

// fail2ban's address tags, written in Python syntax (the fail2ban dialect
// is translated by package pyre). They match what fail2ban's tags match:
//
//	<IP4>   dotted quad, after an optional "::ffff:" mapping prefix
//	<IP6>   colon-separated hex groups; fail2ban ends it with the
//	        look-behind (?<=:): which is always true there, so plain ":"
//	<DNS>   a host name
//	<ADDR>  IPv4 or IPv6, optionally in brackets
//	<HOST>  an address or a host name
//	<CIDR>  a prefix length; <SUBNET> an address with an optional /CIDR
const (
	f2bIP4    = `(?:::f{4,6}:)?(?P<ip4>\d{1,3}(?:\.\d{1,3}){3})`
	f2bIP6    = `(?P<ip6>(?:[0-9A-Fa-f]{1,4}::?|::){1,7}(?:[0-9A-Fa-f]{1,4}|:))`
	f2bDNS    = `(?P<dns>[-.^\w]*\w)`
	f2bCIDR   = `(?P<cidr>\d+)`
	f2bAddr   = `\[?(?:` + f2bIP4 + `|` + f2bIP6 + `)\]?`
	f2bHost   = `(?:` + f2bAddr + `|` + f2bDNS + `)`
	f2bSubnet = `\[?(?:` + f2bIP4 + `|` + f2bIP6 + `)(?:/` + f2bCIDR + `)?\]?`
)

var f2bStaticTags = map[string]string{
	"HOST": f2bHost,
	"IP4":  f2bIP4, "F-IP4/": f2bIP4,
	"IP6": f2bIP6, "F-IP6/": f2bIP6,
	"ADDR": f2bAddr, "F-ADDR/": f2bAddr,
	"CIDR": f2bCIDR, "F-CIDR/": f2bCIDR,
	"SUBNET": f2bSubnet, "F-SUBNET/": f2bSubnet,
	"DNS": f2bDNS, "F-DNS/": f2bDNS,
	"F-ID/":   `(?P<fid>\S+)`,
	"F-PORT/": `(?P<fport>\w+)`,
}

// f2bGroupName maps a custom tag name to its group: lower case, with ID
// and PORT sharing the groups of <F-ID/> and <F-PORT/>.
func f2bGroupName(tag string) string {
	n := strings.ToLower(tag)
	switch n {
	case "id":
		return "fid"
	case "port":
		return "fport"
	}
	return n
}

func isTagByte(c byte) bool {
	return c == '_' || c == '-' || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// expandF2BTags replaces fail2ban's tags in a regex as fail2ban does:
// <HOST> <ADDR> <IP4> <IP6> <DNS> <CIDR> <SUBNET> (and the self-closing
// <F-IP4/> … <F-ID/> <F-PORT/>), <SKIPLINES>, and <F-NAME>…</F-NAME> as
// the named group "name". A closing tag that was never opened, and any
// other <word>, stay as literal text.
func expandF2BTags(re string) string {
	var b strings.Builder
	opened := map[string]bool{}
	skip := 0
	for i := 0; i < len(re); {
		if re[i] != '<' {
			b.WriteByte(re[i])
			i++
			continue
		}
		// A tag: </?[\w-]+/?>
		j := i + 1
		if j < len(re) && re[j] == '/' {
			j++
		}
		k := j
		for k < len(re) && isTagByte(re[k]) {
			k++
		}
		if k == j {
			b.WriteByte('<')
			i++
			continue
		}
		if k < len(re) && re[k] == '/' {
			k++
		}
		if k >= len(re) || re[k] != '>' {
			b.WriteByte('<')
			i++
			continue
		}
		tag := re[i : k+1]
		name := re[i+1 : k]
		i = k + 1
		if name == "SKIPLINES" {
			fmt.Fprintf(&b, `\n(?P<skiplines%d>(?:.*\n)*?)`, skip)
			skip++
			continue
		}
		if s, ok := f2bStaticTags[name]; ok {
			b.WriteString(s)
			continue
		}
		closing := strings.HasPrefix(name, "/")
		n := strings.TrimPrefix(name, "/")
		if strings.HasPrefix(n, "F-") && len(n) > 2 && customTagName(n[2:]) {
			n = n[2:]
			if closing {
				if opened[n] {
					b.WriteByte(')')
				} else {
					b.WriteString(tag)
				}
				continue
			}
			opened[n] = true
			b.WriteString("(?P<" + f2bGroupName(n) + ">")
			continue
		}
		b.WriteString(tag)
	}
	return b.String()
}

// customTagName: fail2ban's custom tags are upper case, digits, _ and -.
func customTagName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) {
			return false
		}
	}
	return s != ""
}

// globalToLocalFlags turns "((?i)…" and "(?:(?i)…" into "(?i:…", as
// fail2ban does so that such patterns compile in Python 3.11.
func globalToLocalFlags(re string) string {
	var b strings.Builder
	for i := 0; i < len(re); {
		if re[i] == '(' && (i == 0 || re[i-1] != '\\') {
			j := i + 1
			if strings.HasPrefix(re[j:], "?:") {
				j += 2
			}
			if strings.HasPrefix(re[j:], "(?") {
				k := j + 2
				for k < len(re) && re[k] >= 'a' && re[k] <= 'z' {
					k++
				}
				if k > j+2 && k < len(re) && re[k] == ')' {
					b.WriteString(re[j:k] + ":")
					i = k + 1
					continue
				}
			}
		}
		b.WriteByte(re[i])
		i++
	}
	return b.String()
}

// skipGroups lists the <SKIPLINES> groups of a compiled pattern, in order.
func skipGroups(names []string) []int {
	var out []int
	for n := 0; ; n++ {
		found := false
		for i, name := range names {
			if name == "skiplines"+strconv.Itoa(n) {
				out = append(out, i)
				found = true
				break
			}
		}
		if !found {
			return out
		}
	}
}
