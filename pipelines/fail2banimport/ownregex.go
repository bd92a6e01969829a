package fail2banimport

import (
	"fmt"
	"strings"

	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/filter"
)

// ownRegexes writes the match block of a jail with "filter =" (no filter
// file): its own failregex, ignoreregex, prefregex and datepattern are the
// whole filter, as for fail2ban. They are written inline when logjail's
// dialect reads them with the same meaning (RE2, <HOST>, <F-USER>, …);
// otherwise the pipeline is written disabled, with the reason, fail2ban's
// regexes in comments and a failregex to replace, rather than with a
// filter that means something else.
func (w *jailWriter) ownRegexes() string {
	fail, ignore := w.regexLines("failregex"), w.regexLines("ignoreregex")
	pref, _ := w.get("prefregex")
	date, _ := w.get("datepattern")
	maxLines, _ := w.get("maxlines")
	w.handled = append(w.handled, "failregex", "ignoreregex", "prefregex", "datepattern", "maxlines")
	var b strings.Builder
	b.WriteString("    match:\n      # fail2ban's jail has no filter (filter =): its own regexes are the filter.\n")
	if why := ownRegexProblem(w.name, fail, ignore, pref, date, maxLines); why != "" {
		w.disabled = why + ": write them as RE2 with logjail's tags, then enable it"
		w.warn("failregex", "%s", w.disabled)
		for _, re := range fail {
			fmt.Fprintf(&b, "      # fail2ban's failregex: %s\n", re)
		}
		b.WriteString("      failregex:\n        - \"^never matches: write the jail's failregex here <HOST>$\"\n")
		return b.String()
	}
	for _, one := range []struct{ key, v string }{{"prefregex", pref}, {"datepattern", date}} {
		if one.v != "" {
			fmt.Fprintf(&b, "      %s: %s\n", one.key, quote(one.v))
		}
	}
	for _, list := range []struct {
		key string
		res []string
	}{{"failregex", fail}, {"ignoreregex", ignore}} {
		if len(list.res) == 0 {
			continue
		}
		fmt.Fprintf(&b, "      %s:\n", list.key)
		for _, re := range list.res {
			fmt.Fprintf(&b, "        - %s\n", quote(re))
		}
	}
	return b.String()
}

// ownRegexProblem says why a jail's own regexes cannot be written inline
// ("" when they can): none given, fail2ban's interpolation left in them,
// maxlines (an inline match has none), Python's "{,n}" (RE2 reads it as
// text), or logjail's dialect refusing them.
func ownRegexProblem(name string, fail, ignore []string, pref, date, maxLines string) string {
	all := append(append(append([]string{}, fail...), ignore...), pref)
	switch {
	case len(fail) == 0:
		return "the jail sets no failregex"
	case maxLines != "" && maxLines != "1":
		return fmt.Sprintf("the jail sets maxlines = %s, which an inline match does not take", maxLines)
	case containsAny(all, "%("):
		return "its regexes use fail2ban's %(name)s interpolation"
	case containsAny(all, "{,"):
		return "its regexes use Python's {,n}, which RE2 reads as text"
	}
	rules := match.Rules{Dialect: match.DialectLogjail, Prefregex: pref, Datepattern: date, Failregex: fail, Ignoreregex: ignore}
	if _, err := filter.Compile(name, rules); err != nil {
		return fmt.Sprintf("its regexes are not logjail's dialect (%v)", err)
	}
	return ""
}

func containsAny(texts []string, sub string) bool {
	for _, t := range texts {
		if strings.Contains(t, sub) {
			return true
		}
	}
	return false
}

// regexLines is a jail option holding one regex per line.
func (w *jailWriter) regexLines(option string) []string {
	v, _ := w.get(option)
	var out []string
	for _, l := range strings.Split(v, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
