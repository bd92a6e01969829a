package fail2ban

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	// refRE is fail2ban's OPTION_CRE: name[options].
	refRE = regexp.MustCompile(`(?s)^([^\[]+)(?:\[(.*)\])?\s*$`)
	// refOptRE is fail2ban's OPTION_EXTRACT_CRE: one name=value (the value
	// double-quoted, single-quoted, or running to ',' or ']'), separated by
	// ',' or "][".
	refOptRE = regexp.MustCompile(`(?s)\s*([\p{L}\p{N}_\-.]+)=(?:"([^"]*)"|'([^']*)'|([^,\]]*))(?:,|\]\s*\[|$|(.+))|,?\s*$|(.+)`)
	// refTokenRE is the first alternative of fail2ban's OPTION_SPLIT_CRE
	// (without its look-ahead): a name and an optional [options] group.
	refTokenRE = regexp.MustCompile(`^[^\[\s]+(?:\s*\[\s*(?:[\p{L}\p{N}_\-.]+=(?:"[^"]*"|'[^']*'|[^,\]]*)\s*(?:,|\]\s*\[)?\s*)*\])?`)
)

// ParseRef splits a filter or action reference such as
// `sshd[mode=aggressive, x="a,b"]` into its name and arguments, as fail2ban's
// extractOptions does: values may be double- or single-quoted (and then
// contain ',' and ']'), unquoted ones end at ',' or ']'; white space around
// names and values is dropped; several groups may follow each other
// (`name[a=1][b=2]`); a repeated argument keeps its last value.
func ParseRef(ref string) (name string, args map[string]string, err error) {
	m := refRE.FindStringSubmatchIndex(ref)
	if m == nil {
		return "", nil, fmt.Errorf("fail2ban: %q: unexpected syntax (want name[opt=value, ...])", ref)
	}
	name = strings.TrimSpace(ref[m[2]:m[3]])
	args = map[string]string{}
	if m[4] < 0 {
		return name, args, nil
	}
	optstr := ref[m[4]:m[5]]
	for _, o := range refOptRE.FindAllStringSubmatchIndex(optstr, -1) {
		if o[10] >= 0 {
			return "", nil, fmt.Errorf("fail2ban: %q: unexpected syntax at %d after option %q: %s",
				ref, o[10], optstr[o[2]:o[3]], clip(optstr[o[10]:o[11]]))
		}
		if o[12] >= 0 {
			return "", nil, fmt.Errorf("fail2ban: %q: expected option, wrong syntax at %d: %s",
				ref, o[12], clip(optstr[o[12]:o[13]]))
		}
		if o[2] < 0 {
			continue
		}
		var v string
		for g := 4; g <= 8; g += 2 {
			if o[g] >= 0 {
				v = optstr[o[g]:o[g+1]]
				break
			}
		}
		args[strings.TrimSpace(optstr[o[2]:o[3]])] = strings.TrimSpace(v)
	}
	return name, args, nil
}

// SplitRefs splits a list of references separated by white space or new
// lines, where arguments in brackets may themselves contain white space
// (fail2ban's splitWithOptions, used for a jail's action list):
//
//	iptables[name=SSH, port=ssh] sendmail[dest="a b"]
//
// gives two references.
func SplitRefs(s string) []string {
	var out []string
	i := 0
	for i < len(s) {
		if r, n := utf8.DecodeRuneInString(s[i:]); unicode.IsSpace(r) {
			i += n
			continue
		}
		end := -1
		if m := refTokenRE.FindStringIndex(s[i:]); m != nil {
			if spaceOrEnd(s, i+m[1]) {
				end = i + m[1]
			} else if n := runEnd(s, i, "["); spaceOrEnd(s, n) {
				end = n
			}
		}
		if end < 0 {
			end = runEnd(s, i, "")
		}
		out = append(out, strings.TrimSpace(s[i:end]))
		i = end
	}
	return out
}

func spaceOrEnd(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return i >= len(s) || unicode.IsSpace(r)
}

// runEnd returns the end of the run of characters other than white space
// and stop starting at i.
func runEnd(s string, i int, stop string) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) || strings.ContainsRune(stop, r) {
			break
		}
		i += n
	}
	return i
}
