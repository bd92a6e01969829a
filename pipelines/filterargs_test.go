package pipelines

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/filter"
)

type argLine struct {
	text string
	want string // address, or "" for none
}

// filterArgumentCases are TestFilterArguments': the values given, and the
// lines with the address each counts (or the error).
var filterArgumentCases = []struct {
	name    string
	args    map[string]string
	lines   []argLine
	wantErr string
}{
	{name: "no rcpt: its regex is left out", lines: []argLine{
		{"to  from 192.0.2.1", ""}, {"to ${rcpt} from 192.0.2.1", ""}, {"plain from 192.0.2.2", "192.0.2.2"},
		{`zone "any" client 192.0.2.3`, "192.0.2.3"}, {"path /knock/ by 192.0.2.4", "192.0.2.4"},
		{"choice from 192.0.2.9", "192.0.2.9"}, {"choice alpha from 192.0.2.9", "192.0.2.9"},
	}},
	{name: "regex metacharacters are literal", args: map[string]string{"rcpt": "a.b+c@x"}, lines: []argLine{
		{"to a.b+c@x from 192.0.2.1", "192.0.2.1"}, {"to aXbbc@x from 192.0.2.1", ""},
	}},
	{name: "a tag in a literal is text", args: map[string]string{"rcpt": "<HOST> from <HOST>"}, lines: []argLine{
		{"to <HOST> from <HOST> from 192.0.2.5", "192.0.2.5"},
		{"to 203.0.113.9 from 198.51.100.1 from 192.0.2.5", ""},
	}},
	{name: "a wildcard literal does not reach the decoy", args: map[string]string{"rcpt": ".*"}, lines: []argLine{
		{"to x from 203.0.113.9 from 192.0.2.6", ""}, {"to .* from 192.0.2.6", "192.0.2.6"},
	}},
	{name: "alternatives", args: map[string]string{"zone": "perip|per.ip"}, lines: []argLine{
		{`zone "perip" client 192.0.2.7`, "192.0.2.7"}, {`zone "per.ip" client 192.0.2.7`, "192.0.2.7"},
		{`zone "perXip" client 192.0.2.7`, ""}, {`zone "other" client 192.0.2.7`, ""},
	}},
	{name: "regex", args: map[string]string{"path": "/(?:a|b)/"}, lines: []argLine{
		{"path /a/ by 192.0.2.8", "192.0.2.8"}, {"path /knock/ by 192.0.2.8", ""},
	}},
	{name: "regex with a tag", args: map[string]string{"path": "<HOST>"}, wantErr: `a value may not add a tag`},
	{name: "regex with a fail2ban tag", args: map[string]string{"path": "/(<webmail>|x)"}, wantErr: `a value may not add a tag`},
	{name: "regex with a named group", args: map[string]string{"path": "(?P<host>x)"}, wantErr: `a value may not add a tag`},
	{name: "bad regex", args: map[string]string{"path": "(("}, wantErr: `is not an RE2 regex`},
	{name: "empty alternative", args: map[string]string{"zone": "a||b"}, wantErr: `empty alternative`},
	{name: "a choice stands for its regex", args: map[string]string{"kind": "alpha"}, lines: []argLine{
		{"choice alpha from 192.0.2.9", "192.0.2.9"}, {"choice from 192.0.2.9", ""},
	}},
	{name: "an empty choice leaves its regexes out", args: map[string]string{"kind": "off"}, lines: []argLine{
		{"choice alpha from 192.0.2.9", ""}, {"choice from 192.0.2.9", ""}, {"plain from 192.0.2.2", "192.0.2.2"},
	}},
	{name: "not a choice", args: map[string]string{"kind": "(?:alpha )?"}, wantErr: `"(?:alpha )?" is not one of alpha, both, off`},
	{name: "unknown", args: map[string]string{"nope": "1"}, wantErr: `unknown argument "nope" (known: kind, path, rcpt, zone)`},
}

// TestFilterArguments: a value is a literal (whatever it holds, it matches
// only itself and never adds an address position), a regex argument's
// value is an RE2 without tags, alternatives are literals, and an empty
// value leaves out the regexes naming the argument (or stands for the
// filter's empty regex).
func TestFilterArguments(t *testing.T) {
	f := &FilterFile{
		Failregex: []Text{
			{S: `^to ${rcpt} from <HOST>$`},
			{S: `^zone "${zone}" client <HOST>$`},
			{S: `^path ${path} by <HOST>$`},
			{S: `^plain from <HOST>$`},
			{S: `^choice ${kind}from <HOST>$`},
		},
		Arguments: map[string]FilterArgument{
			"rcpt": {},
			"zone": {Alternatives: true, Empty: Text{S: `[^"]+`}},
			"path": {Regex: true, Default: Text{S: `/knock/`}},
			"kind": {Default: Text{S: "both"}, Choices: map[string]Text{
				"alpha": {S: `alpha `}, "both": {S: `(?:alpha )?`}, "off": {}}},
		},
	}
	for _, tc := range filterArgumentCases {
		t.Run(tc.name, func(t *testing.T) {
			given := map[string]Text{}
			for k, v := range tc.args {
				given[k] = Text{S: v}
			}
			r := ruleTexts{dialect: match.DialectLogjail, fail: f.Failregex}
			errs := applyArgs("test.yaml", f, given, &r, Pos{})
			if tc.wantErr != "" {
				if len(errs) != 1 || !strings.Contains(errs[0].msg, tc.wantErr) {
					t.Fatalf("errors %v, want one with %q", errs, tc.wantErr)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			m, err := filter.Compile("test", r.rules())
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			for _, l := range tc.lines {
				e := ingest.Entry{Message: l.text, ReadAt: now}
				fl, out := m.Match(&e, now)
				got := ""
				if out == match.Matched {
					got = fl.Addr.String()
				}
				if got != l.want {
					t.Errorf("%q: counted %q, want %q", l.text, got, l.want)
				}
			}
		})
	}
}

// TestFilterArgumentsMatch: a value must match the argument's match regex
// (each alternative on its own).
func TestFilterArgumentsMatch(t *testing.T) {
	a := FilterArgument{Match: Text{S: `[a-z]+`}, Alternatives: true}
	for _, tc := range []struct {
		value string
		ok    bool
	}{{"abc", true}, {"abc|def", true}, {"abc|DEF", false}, {"ab c", false}, {"", true}} {
		_, _, err := argPattern("x", a, tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("%q: error %v, want ok=%v", tc.value, err, tc.ok)
		}
	}
}

// TestFilterArgumentChoicesAlone: an argument with choices takes no
// match, empty, regex or alternatives (its values are the choices).
func TestFilterArgumentChoicesAlone(t *testing.T) {
	choices := map[string]Text{"a": {S: "x"}}
	for _, a := range []FilterArgument{
		{Choices: choices, Match: Text{S: "a"}}, {Choices: choices, Empty: Text{S: "x"}},
		{Choices: choices, Regex: true}, {Choices: choices, Alternatives: true},
	} {
		if msg := argDeclError("k", a); !strings.Contains(msg, "choices exclude") {
			t.Errorf("%+v: %q, want choices exclude …", a, msg)
		}
	}
	if msg := argDeclError("k", FilterArgument{Choices: choices, Default: Text{S: "a"}}); msg != "" {
		t.Errorf("choices alone: %q", msg)
	}
	if msg := argDeclError("k", FilterArgument{Choices: choices, Default: Text{S: "b"}}); !strings.Contains(msg, `default "b" is not one of its choices (a)`) {
		t.Errorf("a default not among the choices: %q", msg)
	}
}

// TestShippedFilterArguments: every argument of a shipped filter says what
// it is, takes its own default, has a match regex that compiles, and is
// named by a regex of the filter.
func TestShippedFilterArguments(t *testing.T) {
	for _, name := range ShippedFilters() {
		f, err := (&decoder{}).loadShipped(name)
		if err != nil {
			t.Fatal(err)
		}
		var all []Text
		all = append(append(append(all, f.Prefregex), f.Failregex...), f.Ignoreregex...)
		for _, extra := range f.Modes {
			all = append(all, extra...)
		}
		for arg, a := range f.Arguments {
			if a.Description == "" {
				t.Errorf("%s: argument %s: no description", name, arg)
			}
			if a.Match.S != "" {
				if _, err := regexp.Compile(a.Match.S); err != nil {
					t.Errorf("%s: argument %s: match: %v", name, arg, err)
				}
			}
			if _, _, err := argPattern(arg, a, a.Default.S); err != nil {
				t.Errorf("%s: argument %s: its default: %v", name, arg, err)
			}
			if !slices.ContainsFunc(all, func(re Text) bool { return strings.Contains(re.S, "${"+arg+"}") }) {
				t.Errorf("%s: argument %s: no regex names ${%s}", name, arg, arg)
			}
		}
	}
}
