package pipelines

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// FilterArgument is an argument a filter file declares (arguments:): a
// value the pipeline gives (match.args, or NAME[arg=value] in `logjail
// test`), which the filter's regexes name as ${NAME}. "${" cannot otherwise
// begin anything a regex means ($ ends the text; a brace after it is a
// literal no line can hold after its end), and no logjail tag (<HOST>,
// <F-…>) is written so; a literal "${" is written \$\{.
//
// A value is inserted as a literal (regexp.QuoteMeta, and '<' escaped, so
// that it never forms a tag): whatever the operator writes, it matches
// only itself and cannot move where the address is read. An argument that
// declares regex: true is inserted as an RE2 instead (checked to compile,
// to hold no tag and no named group). Values are checked when the
// configuration loads, against match.
type FilterArgument struct {
	// Default is the value when the pipeline gives none.
	Default Text `yaml:"default"`
	// Match is an RE2 that the whole value (each alternative) must match.
	Match Text `yaml:"match"`
	// Regex: the value is an RE2, not a literal.
	Regex bool `yaml:"regex"`
	// Alternatives: the value is literals separated by "|", any of which
	// matches ("lr_zone|lr_zone2", as fail2ban writes such a list).
	Alternatives bool `yaml:"alternatives"`
	// Empty is the RE2, written in the filter, that the argument stands
	// for when its value is empty. Without one, an empty value leaves out
	// every failregex and ignoreregex naming the argument (the shipped
	// exim-spam without a honeypot address counts no accepted spam).
	Empty Text `yaml:"empty"`
	// Choices makes the argument a closed set of values (sshd's
	// publickey: nofail, invalid, any, ignore): each value stands for the
	// RE2 the filter writes for it (tags allowed: it is the filter's own
	// text, not the operator's), an empty one leaves out the regexes
	// naming the argument, and any other value is refused.
	Choices map[string]Text `yaml:"choices"`
	// Description says what the value is, for `logjail filters NAME`.
	Description string `yaml:"description"`
}

// ArgumentInfo describes a filter's argument, as `logjail filters` lists it.
type ArgumentInfo struct {
	Name        string   `json:"name"`
	Default     string   `json:"default"`
	Match       string   `json:"match,omitempty"`
	Regex       bool     `json:"regex,omitempty"`
	List        bool     `json:"alternatives,omitempty"`
	Empty       string   `json:"empty,omitempty"`
	Choices     []string `json:"choices,omitempty"`
	Description string   `json:"description"`
}

// argumentInfo lists f's arguments by name.
func argumentInfo(f *FilterFile) []ArgumentInfo {
	out := []ArgumentInfo{}
	for _, name := range sortedArgNames(f.Arguments) {
		a := f.Arguments[name]
		out = append(out, ArgumentInfo{Name: name, Default: a.Default.S, Match: a.Match.S, Regex: a.Regex,
			List: a.Alternatives, Empty: a.Empty.S, Choices: sortedTextKeys(a.Choices), Description: a.Description})
	}
	return out
}

func sortedArgNames(m map[string]FilterArgument) []string { return slices.Sorted(maps.Keys(m)) }

// argRef is an argument named in a filter's regex.
var argRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// argName is the name an argument may have.
var argName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// tagLike are tags (logjail's <HOST>, <F-USER>, or fail2ban's <webmail>
// left uninterpolated) and named groups, which a regex value may not hold:
// one would add an address or a field the filter does not read.
var tagLike = regexp.MustCompile(`<[A-Za-z_/][A-Za-z0-9_/-]*>|\(\?P?<`)

// argError is a bad argument or value, at the place it was written.
type argError struct {
	at  Pos
	msg string
}

// argPattern is the regex text value stands for in argument a; keep false
// when the value is empty and a has no Empty (the regexes naming it are
// left out).
func argPattern(name string, a FilterArgument, value string) (pattern string, keep bool, err error) {
	if a.Choices != nil {
		re, ok := a.Choices[value]
		switch {
		case !ok:
			return "", false, fmt.Errorf("argument %s: %q is not one of %s", name, value, strings.Join(sortedTextKeys(a.Choices), ", "))
		case re.S == "":
			return "", false, nil
		}
		return "(?:" + re.S + ")", true, nil
	}
	if value == "" {
		if a.Empty.S == "" {
			return "", false, nil
		}
		return "(?:" + a.Empty.S + ")", true, nil
	}
	var match *regexp.Regexp
	if a.Match.S != "" {
		match, err = regexp.Compile(`^(?:` + a.Match.S + `)$`)
		if err != nil {
			return "", false, fmt.Errorf("argument %s: match %q: %v", name, a.Match.S, err)
		}
	}
	check := func(v string) error {
		if match != nil && !match.MatchString(v) {
			return fmt.Errorf("argument %s: %q does not match %s", name, v, a.Match.S)
		}
		return nil
	}
	switch {
	case a.Regex:
		if err := check(value); err != nil {
			return "", false, err
		}
		if _, err := regexp.Compile(value); err != nil {
			return "", false, fmt.Errorf("argument %s: %q is not an RE2 regex: %v", name, value, err)
		}
		if t := tagLike.FindString(value); t != "" {
			return "", false, fmt.Errorf("argument %s: %q holds %q: a value may not add a tag or a named group", name, value, t)
		}
		return "(?:" + value + ")", true, nil
	case a.Alternatives:
		var alts []string
		for _, alt := range strings.Split(value, "|") {
			alt = strings.TrimSpace(alt)
			if alt == "" {
				return "", false, fmt.Errorf("argument %s: %q has an empty alternative", name, value)
			}
			if err := check(alt); err != nil {
				return "", false, err
			}
			alts = append(alts, literal(alt))
		}
		return "(?:" + strings.Join(alts, "|") + ")", true, nil
	default:
		if err := check(value); err != nil {
			return "", false, err
		}
		return literal(value), true, nil
	}
}

// literal is value as a regex matching only itself; '<' is escaped too, so
// that no tag (<HOST>) can form.
func literal(value string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(value), "<", `\x3c`)
}

// applyArgs puts the pipeline's argument values (given, by name) into the
// filter's regexes in r, and leaves out the failregexes and ignoreregexes
// naming an argument whose value is empty (and which has no Empty).
// fallback is where an error with no place of its own is reported.
func applyArgs(file string, f *FilterFile, given map[string]Text, r *ruleTexts, fallback Pos) []argError {
	patterns, off, errs := argValues(file, f, given, fallback)
	errs = append(errs, unknownArgs(file, f, given, fallback)...)
	if len(errs) > 0 {
		return errs
	}
	s := argSubst{file: file, patterns: patterns, off: off, fallback: fallback}
	r.fail = s.list("failregex", r.fail)
	r.ignore = s.list("ignoreregex", r.ignore)
	if p, keep, bad := s.subst("prefregex", r.pref); bad != nil {
		s.errs = append(s.errs, *bad)
	} else if !keep {
		s.errs = append(s.errs, argError{cmp.Or(r.pref.At, fallback), fmt.Sprintf("filter %s: prefregex names an argument with no value", file)})
	} else {
		r.pref = p
	}
	return s.errs
}

// argValues checks the filter's declared arguments and returns the
// pattern of each (its value, given or default), and those whose empty
// value leaves their regexes out.
func argValues(file string, f *FilterFile, given map[string]Text, fallback Pos) (map[string]string, map[string]bool, []argError) {
	var errs []argError
	patterns := map[string]string{}
	off := map[string]bool{}
	for _, name := range sortedArgNames(f.Arguments) {
		a := f.Arguments[name]
		if msg := argDeclError(name, a); msg != "" {
			errs = append(errs, argError{cmp.Or(a.Default.At, fallback), fmt.Sprintf("filter %s: %s", file, msg)})
			continue
		}
		if a.Empty.S != "" {
			if _, err := regexp.Compile(a.Empty.S); err != nil {
				errs = append(errs, argError{cmp.Or(a.Empty.At, fallback), fmt.Sprintf("filter %s: argument %s: empty: %v", file, name, err)})
				continue
			}
		}
		value, at := a.Default, cmp.Or(a.Default.At, fallback)
		if v, ok := given[name]; ok {
			value, at = v, cmp.Or(v.At, fallback)
		}
		p, keep, err := argPattern(name, a, value.S)
		if err != nil {
			errs = append(errs, argError{at, fmt.Sprintf("filter %s: %v", file, err)})
			continue
		}
		if !keep {
			off[name] = true
			continue
		}
		patterns[name] = p
	}
	return patterns, off, errs
}

// argDeclError says what is wrong with an argument's declaration ("" when
// nothing).
func argDeclError(name string, a FilterArgument) string {
	switch {
	case !argName.MatchString(name):
		return fmt.Sprintf("argument name %q (want letters, digits, _)", name)
	case name == "mode":
		return "argument mode: a filter's modes are its modes: key"
	case a.Regex && a.Alternatives:
		return fmt.Sprintf("argument %s: regex and alternatives exclude each other", name)
	case a.Choices != nil && (a.Regex || a.Alternatives || a.Match.S != "" || a.Empty.S != ""):
		return fmt.Sprintf("argument %s: choices exclude regex, alternatives, match and empty", name)
	case a.Choices != nil && !hasChoice(a.Choices, a.Default.S):
		return fmt.Sprintf("argument %s: default %q is not one of its choices (%s)", name, a.Default.S, strings.Join(sortedTextKeys(a.Choices), ", "))
	}
	return ""
}

// unknownArgs reports the given arguments the filter does not declare.
func unknownArgs(file string, f *FilterFile, given map[string]Text, fallback Pos) []argError {
	var errs []argError
	for _, k := range sortedTextKeys(given) {
		if _, ok := f.Arguments[k]; ok {
			continue
		}
		known := "the filter declares none"
		if len(f.Arguments) > 0 {
			known = "known: " + strings.Join(sortedArgNames(f.Arguments), ", ")
		}
		if k == "mode" {
			known = "a mode is match.mode"
		}
		errs = append(errs, argError{cmp.Or(given[k].At, fallback), fmt.Sprintf("filter %s: unknown argument %q (%s)", file, k, known)})
	}
	return errs
}

// argSubst puts argument patterns into a filter's regexes.
type argSubst struct {
	file     string
	patterns map[string]string
	off      map[string]bool
	fallback Pos
	errs     []argError
}

// subst puts the values into t; keep is false when t names an empty one.
func (s *argSubst) subst(what string, t Text) (Text, bool, *argError) {
	keep := true
	var bad *argError
	t.S = argRef.ReplaceAllStringFunc(t.S, func(ref string) string {
		name := argRef.FindStringSubmatch(ref)[1]
		if p, ok := s.patterns[name]; ok {
			return p
		}
		if s.off[name] {
			keep = false
			return ref
		}
		if bad == nil {
			bad = &argError{cmp.Or(t.At, s.fallback), fmt.Sprintf("filter %s: %s names ${%s}, which the filter does not declare under arguments", s.file, what, name)}
		}
		return ref
	})
	return t, keep, bad
}

// list substitutes each regex of in, leaving out those naming an empty
// argument.
func (s *argSubst) list(what string, in []Text) []Text {
	var out []Text
	for _, t := range in {
		t, keep, bad := s.subst(what, t)
		if bad != nil {
			s.errs = append(s.errs, *bad)
		}
		if keep {
			out = append(out, t)
		}
	}
	return out
}

func sortedTextKeys(m map[string]Text) []string { return slices.Sorted(maps.Keys(m)) }

// CheckFilterArgs checks values of arguments of the shipped filter name,
// as a pipeline's match.args gives them.
func CheckFilterArgs(name string, args map[string]string) error {
	if len(args) == 0 {
		return nil
	}
	f, err := (&decoder{}).loadShipped(name)
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		a, ok := f.Arguments[k]
		if !ok {
			return fmt.Errorf("filter %s: unknown argument %q", name, k)
		}
		if _, _, err := argPattern(k, a, args[k]); err != nil {
			return err
		}
	}
	return nil
}

// hasChoice tells whether v is one of choices.
func hasChoice(choices map[string]Text, v string) bool {
	_, ok := choices[v]
	return ok
}
