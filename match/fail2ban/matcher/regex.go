package matcher

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/fail2ban/pyre"
)

// IMPORTS
// f2bRegex is one compiled fail2ban regex.
type f2bRegex struct {
	re    *pyre.Regexp
	site  match.RegexSite // where the regex is in the filter, for timeout reports
	src   string
	names []string
	// prefixes are the texts one of which every match starts with
	// (none: not known).
	prefixes [][]byte
	// need are texts one of which every match holds, when they say more
	// than the prefixes (nil: nothing more known).
	need    [][]byte
	skip    []int // <SKIPLINES> groups
	alt     []altGroup
	content int // the <F-CONTENT> group, or -1
}

// altGroup is an <F-ALT_NAME…> group: its value stands in for NAME when
// NAME captured nothing.
type altGroup struct {
	group  int
	target string
}

// errNoFailureID: a fail2ban failregex must capture a failure id.
var errNoFailureID = fmt.Errorf("%w, nor <F-ID>, <F-MLFID> or a group ip4, ip6, dns, fid", match.ErrNoAddress)

// f2bIDGroups are the groups that give a failure its id.
var f2bIDGroups = []string{"fid", "ip4", "ip6", "dns", "mlfid"}

func compileF2B(src string, multiline, lines bool, timeout time.Duration) (*f2bRegex, error) {
	expr := globalToLocalFlags(expandF2BTags(src))
	if strings.TrimSpace(expr) == "" {
		return nil, errors.New("empty regex")
	}
	re, err := pyre.Compile(expr, pyre.Options{Multiline: multiline, Lines: lines, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	r := &f2bRegex{re: re, src: src, names: re.SubexpNames()}
	for _, p := range re.Prefixes() {
		r.prefixes = append(r.prefixes, []byte(p))
	}
	if req := re.Required(); !slices.Equal(req, re.Prefixes()) {
		for _, s := range req {
			r.need = append(r.need, []byte(s))
		}
	}
	r.skip = skipGroups(r.names)
	r.content = re.SubexpIndex(groupContent)
	var alts []string
	for _, n := range r.names {
		if strings.HasPrefix(n, "alt_") && len(n) > len("alt_") {
			alts = append(alts, n)
		}
	}
	slices.Sort(alts)
	for _, n := range alts {
		target := strings.TrimPrefix(n, "alt_")
		// alt_user_1 → user
		if i := strings.LastIndexByte(target, '_'); i > 0 && allDigits(target[i+1:]) {
			target = target[:i]
		}
		r.alt = append(r.alt, altGroup{group: re.SubexpIndex(n), target: f2bGroupName(target)})
	}
	return r, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (r *f2bRegex) has(name string) bool {
	return slices.Contains(r.names[1:], name)
}

// groups merges the named groups of a match into into, as fail2ban
// updates the prefregex's groups with the failregex's: a group that took
// part sets its value (possibly empty), one that took no part removes the
// name. An alt_NAME group stands in for an empty NAME of the same regex.
func (r *f2bRegex) groups(text string, loc []int, into map[string]string) {
	val := func(i int) (string, bool) {
		if i <= 0 || loc[2*i] < 0 {
			return "", false
		}
		return text[loc[2*i]:loc[2*i+1]], true
	}
	for i, n := range r.names {
		if i == 0 || n == "" {
			continue
		}
		if v, ok := val(i); ok {
			into[n] = v
		} else {
			delete(into, n)
		}
	}
	var assigned map[string]bool // targets an earlier alt_ group filled
	for _, a := range r.alt {
		v, _ := val(a.group)
		if v == "" {
			continue
		}
		cur := ""
		if t := r.index(a.target); t > 0 {
			cur, _ = val(t)
		}
		if cur == "" && !assigned[a.target] {
			into[a.target] = v
			if assigned == nil {
				assigned = map[string]bool{}
			}
			assigned[a.target] = true
		}
	}
}

func (r *f2bRegex) index(name string) int {
	for i, n := range r.names {
		if i > 0 && n == name {
			return i
		}
	}
	return -1
}
