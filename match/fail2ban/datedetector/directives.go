package datedetector

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// strftime directives as fail2ban expands them in a datepattern.

// directive returns the regular expression (Python syntax) of one
// strftime directive as fail2ban reads it, and whether it exists. Group
// names are the field letters; repeated names are renamed later.
func directive(d string, now time.Time) (string, bool) {
	if d == "ExY" {
		return `(?P<Y>` + yearPrefixes(now) + `\d)`, true
	}
	re, ok := directives[d]
	return re, ok
}

// directives holds the expression of each directive but %ExY (which
// depends on the year): a table, one line a directive.
var directives = map[string]string{
	"%":   "%",
	"d":   `(?P<d>[12]\d|[0 ]?[1-9]|3[01])`,
	"m":   `(?P<m>0?[1-9]|1[0-2])`,
	"Y":   `(?P<Y>\d{4})`,
	"H":   `(?P<H>[01]?\d|2[0-3])`,
	"M":   `(?P<M>[0-5]?\d)`,
	"S":   `(?P<S>[0-5]?\d|6[01])`,
	"k":   ` ?(?P<H>[0-2]?\d)`,
	"l":   ` ?(?P<I>1?\d)`,
	"Z":   `(?P<Z>Z|[A-Z]{3,5})`,
	"z":   `(?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?)`,
	"ExZ": `(?P<Z>[A-Z](?:[A-Z]{2,4})?)`,
	"Exz": `(?P<z>(?:[A-Z](?:[A-Z]{2,4})?)?[+-][01]\d(?::?\d{2})?|[A-Z](?:[A-Z]{2,4})?)`,
	"Exd": `(?P<d>[12]\d|0[1-9]|3[01])`,
	"Exm": `(?P<m>0[1-9]|1[0-2])`,
	"ExH": `(?P<H>[01]\d|2[0-3])`,
	"Exk": ` ?(?P<H>[01]?\d|2[0-3])`,
	"Exl": ` ?(?P<I>1[0-2]|\d)`,
	"ExM": `(?P<M>[0-5]\d)`,
	"ExS": `(?P<S>[0-5]\d|6[01])`,
	"Exy": `(?P<y>\d\d)`,
	"y":   `(?P<y>\d\d)`,
	"f":   `(?P<f>[0-9]{1,6})`,
	"I":   `(?P<I>1[0-2]|0[1-9]|[1-9])`,
	"j":   `(?P<j>36[0-6]|3[0-5]\d|[12]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])`,
	"U":   `(?P<U>5[0-3]|[0-4]\d|\d)`,
	"W":   `(?P<W>5[0-3]|[0-4]\d|\d)`,
	"V":   `(?P<V>5[0-3]|0[1-9]|[1-4]\d|\d)`,
	"G":   `(?P<G>\d{4})`,
	"u":   `(?P<u>[1-7])`,
	"w":   `(?P<w>[0-6])`,
	"a":   `(?P<a>` + strings.Join(weekdayAbbr[:], "|") + `)`,
	"A":   `(?P<A>` + strings.Join(byLength(weekdayFull[:]), "|") + `)`,
	"b":   `(?P<b>` + strings.Join(monthAbbr[1:], "|") + `)`,
	"B":   `(?P<B>` + strings.Join(byLength(monthFull[1:]), "|") + `)`,
	"p":   `(?P<p>am|pm)`,
	// The C locale's date and time: %a %b %d %H:%M:%S %Y, with the
	// standard library's (not fail2ban's) field expressions.
	"c": `(?P<a>` + strings.Join(weekdayAbbr[:], "|") + `)\s+(?P<b>` + strings.Join(monthAbbr[1:], "|") +
		`)\s+` + stdDay + `\s+` + stdClock + `\s+(?P<Y>\d\d\d\d)`,
	"x": `(?P<m>1[0-2]|0[1-9]|[1-9])/` + stdDay + `/(?P<y>\d\d)`,
	"X": stdClock,
}

const (
	stdDay   = `(?P<d>3[01]|[12]\d|0[1-9]|[1-9]| [1-9])`
	stdClock = `(?P<H>2[0-3]|[01]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[01]|[0-5]\d|\d)`
)

var (
	weekdayAbbr = [7]string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	weekdayFull = [7]string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
	monthAbbr   = [13]string{"", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	monthFull   = [13]string{"", "january", "february", "march", "april", "may", "june", "july",
		"august", "september", "october", "november", "december"}
)

// byLength orders names longest first (stable), so that an alternation
// prefers the longest.
func byLength(names []string) []string {
	out := append([]string(nil), names...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// yearPrefixes returns the expression of the first three digits of the
// years %ExY accepts: from 2000 to three years after now.
func yearPrefixes(now time.Time) string {
	last := (now.Year() + 3) / 10
	if last < 200 {
		last = 200
	}
	var alts []string
	for d := 200; d <= last; d++ {
		alts = append(alts, strconv.Itoa(d))
	}
	// Group by common prefix: 200..202 → 20[0-2].
	if len(alts) > 1 && alts[0][:2] == alts[len(alts)-1][:2] {
		lo, hi := alts[0][2], alts[len(alts)-1][2]
		return alts[0][:2] + "[" + string(lo) + "-" + string(hi) + "]"
	}
	if len(alts) == 1 {
		return alts[0]
	}
	return "(?:" + strings.Join(alts, "|") + ")"
}

var multiKeys = []string{"ExZ", "Exz", "Exd", "Exm", "ExH", "Exk", "Exl", "ExM", "ExS", "ExY", "Exy"}

const singleKeys = "dfHIGjmMSUwuVyYzAaBbpZ%WcxXkl"

// expand replaces the % directives of a datepattern by their expressions.
func expand(p string, now time.Time) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		key := ""
		for _, k := range multiKeys {
			if strings.HasPrefix(p[i+1:], k) {
				key = k
				break
			}
		}
		if key == "" && i+1 < len(p) && strings.IndexByte(singleKeys, p[i+1]) >= 0 {
			key = p[i+1 : i+2]
		}
		if key == "" {
			if i+1 < len(p) {
				return "", fmt.Errorf("unknown directive %%%c", p[i+1])
			}
			return "", errors.New("pattern ends with an incomplete % directive")
		}
		re, _ := directive(key, now)
		b.WriteString(re)
		i += len(key)
	}
	return b.String(), nil
}
