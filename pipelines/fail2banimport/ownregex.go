package fail2banimport

import (
	"fmt"
	"strings"

	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/filter"
)

// ownRegexes writes the match block of a jail with "filter =" (no filter
// file): its own failregex and ignoreregex are the whole filter, as for
// fail2ban. They are written inline when logjail's dialect reads them
// (RE2, <HOST>, <F-USER>, …); when it cannot read one, the pipeline is
// written disabled, with the reason and a failregex to replace, rather
// than with a filter that means something else.
func (w *jailWriter) ownRegexes() string {
	fail, ignore := w.regexLines("failregex"), w.regexLines("ignoreregex")
	var b strings.Builder
	b.WriteString("    match:\n      # fail2ban's jail has no filter (filter =): its own regexes are the filter.\n")
	_, err := filter.Compile(w.name, match.Rules{Dialect: match.DialectLogjail, Failregex: fail, Ignoreregex: ignore})
	if len(fail) == 0 {
		err = fmt.Errorf("the jail sets no failregex")
	}
	if err != nil {
		w.disabled = fmt.Sprintf("its regexes are not logjail's dialect (%v): write them as RE2 with logjail's tags, then enable it", err)
		w.warn("failregex", "%s", w.disabled)
		for _, re := range fail {
			fmt.Fprintf(&b, "      # fail2ban's failregex: %s\n", strings.ReplaceAll(re, "\n", " "))
		}
		fail = []string{"^never matches: write the jail's failregex here <HOST>$"}
		ignore = nil
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
	w.handled = append(w.handled, "failregex", "ignoreregex")
	return b.String()
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
