package pipelines

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// LeftOut are the filters fail2ban 1.0.2 ships that logjail deliberately
// does not, each with the reason (README "Filters" lists them).
var LeftOut = map[string]string{
	"apache-fakegooglebot": "it decides by resolving the client's address and name in DNS (fail2ban runs a script as ignorecommand); the attacker controls its reverse zone, and logjail never resolves names",
}

// FilterInfo describes a shipped filter, as `logjail filters` lists it.
type FilterInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Modes are the modes a pipeline may name, the default first.
	Modes []string `json:"modes"`
	// DefaultMode is the mode of a pipeline that names none.
	DefaultMode string `json:"default_mode"`
	// JournalMatch is what a journald source without a match of its own
	// reads; empty for a program that writes files only.
	JournalMatch []string `json:"journalmatch"`
	Services     []string `json:"services"`
	// Aliases are other names of the filter in a mode ("postfix-sasl").
	Aliases []string `json:"aliases,omitempty"`
	// Arguments are the values a pipeline may give the filter
	// (match.args), by name, with their defaults.
	Arguments []ArgumentInfo `json:"arguments"`
}

// ShippedFilterInfo describes every shipped filter, by name.
func ShippedFilterInfo() ([]FilterInfo, error) {
	var out []FilterInfo
	for _, name := range ShippedFilters() {
		f, err := (&decoder{}).loadShipped(name)
		if err != nil {
			return nil, err
		}
		info := FilterInfo{Name: name, Description: f.Description, Modes: modeNames(f), DefaultMode: cmp.Or(f.DefaultMode.S, "normal"),
			JournalMatch: texts(f.JournalMatch), Services: slices.Clone(f.Services),
			Arguments: argumentInfo(f)}
		for alias, to := range shippedAliases {
			if to.name == name {
				info.Aliases = append(info.Aliases, fmt.Sprintf("%s (mode %s)", alias, to.mode))
			}
		}
		sort.Strings(info.Aliases)
		if info.JournalMatch == nil {
			info.JournalMatch = []string{}
		}
		if info.Services == nil {
			info.Services = []string{}
		}
		out = append(out, info)
	}
	return out, nil
}

// errNotShipped: no filter of that name is shipped.
var errNotShipped = errors.New("no shipped filter")

// loadShipped reads a shipped filter, never a file of the same name.
func (d *decoder) loadShipped(name string) (*FilterFile, error) {
	data, err := shipped.ReadFile("filters/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("%w %q", errNotShipped, name)
	}
	return d.parseFilter("pipelines/filters/"+name+".yaml", data, true)
}

// modeNames are a filter's modes, the default first and the others sorted.
func modeNames(f *FilterFile) []string {
	def := cmp.Or(f.DefaultMode.S, "normal")
	if len(f.Modes) == 0 {
		return []string{def}
	}
	var modes []string
	for m := range f.Modes {
		if m != def {
			modes = append(modes, m)
		}
	}
	sort.Strings(modes)
	if _, ok := f.Modes[def]; ok {
		modes = append([]string{def}, modes...)
	}
	return modes
}

// JoinJournalMatch writes journal match terms as journalctl takes them.
func JoinJournalMatch(terms []string) string { return strings.Join(terms, " ") }
