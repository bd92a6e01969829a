package pipelines

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// GettableKeys lists the keys Get reads: the settable ones (addignoreip
// and delignoreip read as ignoreip) and read-only ones.
var GettableKeys = []string{"maxretry", "findtime", "bantime", "ignoreip", "ignoreself", "ignorecommand",
	"bantime_increment", "bantime_increment.factor", "bantime_increment.formula", "bantime_increment.multipliers",
	"bantime_increment.maxtime", "bantime_increment.rndtime", "bantime_increment.overalljails",
	"logpath", "journalmatch", "sources", "filter", "failregex", "ignoreregex"}

// Get returns key's value in p as `logjail get --json` prints it: a
// number, a string (durations as status writes them), a boolean, a list
// of strings (never null) or, for bantime_increment, an object (null when
// off).
func (p *Pipeline) Get(key string) (any, error) {
	key = CanonicalKey(key)
	switch key {
	case "maxretry":
		return p.MaxRetry, nil
	case "findtime":
		return FormatDuration(time.Duration(p.FindTime)), nil
	case "bantime":
		return FormatDuration(time.Duration(p.BanTime)), nil
	case "ignoreip":
		out := make([]string, len(p.IgnoreIP))
		for i, x := range p.IgnoreIP {
			out[i] = prefixString(netip.Prefix(x))
		}
		return out, nil
	case "ignoreself":
		return p.ignoresSelf(), nil
	case "ignorecommand":
		return p.IgnoreCommand.S, nil
	case "logpath", "journalmatch", "sources", "filter", "failregex", "ignoreregex":
		return p.readOnly(key), nil
	}
	inc := p.increment()
	if key == "bantime_increment" {
		if inc == nil {
			return nil, nil
		}
		return inc, nil
	}
	field, ok := strings.CutPrefix(key, "bantime_increment.")
	if !ok || incrementFields[field] == nil {
		return nil, fmt.Errorf("%s: %w (known: %s)", key, ErrUnknownKey, strings.Join(GettableKeys, ", "))
	}
	if inc == nil {
		return nil, nil
	}
	return inc[field], nil
}

// increment describes the resolved bantime_increment; nil when off.
func (p *Pipeline) increment() map[string]any {
	if p.Plan == nil || p.Plan.Increment == nil {
		return nil
	}
	inc := p.Plan.Increment
	mult := make([]float64, len(inc.Multipliers))
	copy(mult, inc.Multipliers)
	return map[string]any{"factor": inc.Factor, "formula": inc.Formula.String(), "multipliers": mult,
		"maxtime": FormatDuration(inc.MaxTime), "rndtime": FormatDuration(inc.RndTime), "overalljails": inc.OverallJails}
}

// readOnly returns the keys get reads and set cannot change: what the
// pipeline watches (fail2ban's logpath and journalmatch) and its filter.
func (p *Pipeline) readOnly(key string) []string {
	out := []string{}
	switch key {
	case "logpath":
		for _, in := range p.Ingest {
			if in.File != nil {
				out = append(out, in.File.Paths...)
			}
		}
	case "journalmatch":
		for _, in := range p.Ingest {
			if in.Journald != nil {
				out = append(out, in.Journald.Match...)
			}
		}
		if len(out) == 0 && p.Plan != nil {
			out = append(out, p.Plan.JournalMatch...)
		}
	case "sources":
		out = p.sourceList()
	case "filter":
		if f := cmpText(p.Match.Filter, p.Match.Fail2ban); f != "" {
			out = append(out, f)
		} else if len(p.Match.Failregex) > 0 {
			out = append(out, "inline")
		}
	case "failregex", "ignoreregex":
		if p.Plan != nil {
			out = append(out, map[string][]string{"failregex": p.Plan.Rules.Failregex, "ignoreregex": p.Plan.Rules.Ignoreregex}[key]...)
		}
	}
	return out
}

// sourceList names each source as the YAML declares it.
func (p *Pipeline) sourceList() []string {
	out := []string{}
	for _, in := range p.Ingest {
		switch {
		case in.File != nil:
			out = append(out, "file "+strings.Join(in.File.Paths, " "))
		case in.Journald != nil:
			out = append(out, strings.TrimSpace("journald "+strings.Join(in.Journald.Match, " ")))
		case in.Syslog != nil:
			out = append(out, "syslog "+in.Syslog.Listen)
		case in.NATS != nil:
			out = append(out, "nats "+in.NATS.Subject)
		case in.Bans != nil:
			out = append(out, "bans "+strings.Join(in.Bans.Pipelines, " "))
		}
	}
	return out
}

func cmpText(ts ...Text) string {
	for _, t := range ts {
		if t.S != "" {
			return t.S
		}
	}
	return ""
}

// prefixString writes a single address without its /32 or /128.
func prefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// Run-time settings: `logjail get` reads a pipeline's keys and `logjail set`
// changes some, as fail2ban-client get/set do. A value is parsed as the
// YAML parses that key, so a set accepts what the file would.

// ErrUnknownKey is a key get or set does not know.
var ErrUnknownKey = errors.New("unknown key")

// keyAliases are fail2ban-client's names of the same keys.
var keyAliases = map[string]string{
	"bantime.increment": "bantime_increment", "bantime.factor": "bantime_increment.factor",
	"bantime.formula": "bantime_increment.formula", "bantime.multipliers": "bantime_increment.multipliers",
	"bantime.maxtime": "bantime_increment.maxtime", "bantime.rndtime": "bantime_increment.rndtime",
	"bantime.overalljails": "bantime_increment.overalljails",
}

// CanonicalKey returns key as logjail names it (fail2ban's dotted
// bantime.* names accepted).
func CanonicalKey(key string) string {
	key = strings.ToLower(strings.TrimSpace(key))
	if k, ok := keyAliases[key]; ok {
		return k
	}
	return key
}

// incrementFields are bantime_increment's keys, each set into a copy of
// the spec as the YAML writes it.
var incrementFields = map[string]func(inc *IncrementSpec, value string) error{
	"factor":  func(inc *IncrementSpec, v string) error { inc.Factor = Text{S: v}; return nil },
	"formula": func(inc *IncrementSpec, v string) error { inc.Formula = Text{S: v}; return nil },
	"multipliers": func(inc *IncrementSpec, v string) error {
		// [1, 2, 4], as get and config show write it, or 1,2,4 or "1 2 4".
		if t := strings.TrimSpace(v); strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			v = t[1 : len(t)-1]
		}
		inc.Multipliers = []Text{{S: v}}
		return nil
	},
	"maxtime": func(inc *IncrementSpec, v string) error { inc.MaxTime = Text{S: v}; return nil },
	"rndtime": func(inc *IncrementSpec, v string) error { inc.RndTime = Text{S: v}; return nil },
	"overalljails": func(inc *IncrementSpec, v string) error {
		b, err := yamlBool(v)
		inc.OverallJails = b
		return err
	},
}

// SettableKeys lists the keys Set changes, for help texts and errors.
var SettableKeys = []string{"maxretry", "findtime", "bantime", "addignoreip", "delignoreip", "ignoreself",
	"bantime_increment", "bantime_increment.factor", "bantime_increment.formula", "bantime_increment.multipliers",
	"bantime_increment.maxtime", "bantime_increment.rndtime", "bantime_increment.overalljails"}

// Set returns a copy of p with key set to value (p is left as it is), the
// value checked as Load checks it; the error names the key. addignoreip
// and delignoreip add an ignoreip entry (an address, CIDR or host name) and
// remove one (as listed by Get); bantime_increment takes true (on, with
// fail2ban's defaults) or false.
func (p *Pipeline) Set(key, value string) (*Pipeline, error) {
	key = CanonicalKey(key)
	cp := *p
	plan := Plan{}
	if p.Plan != nil {
		plan = *p.Plan
	}
	cp.Plan = &plan
	var err error
	switch key {
	case "maxretry":
		err = setMaxRetry(&cp, value)
	case "findtime", "bantime":
		err = setDuration(&cp, key, value)
	case "addignoreip", "delignoreip":
		err = setIgnoreIP(&cp, key == "addignoreip", value)
	case "ignoreself":
		var b bool
		b, err = yamlBool(value)
		cp.IgnoreSelf = &b
	default:
		err = setIncrement(&cp, key, value)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return &cp, nil
}

// setMaxRetry sets maxretry, refused with the file's messages: not a
// whole number, or out of range.
func setMaxRetry(p *Pipeline, value string) error {
	n, err := strconv.Atoi(strings.TrimSpace(value))
	if err != nil {
		return fmt.Errorf("expected an integer, got %q", value)
	}
	if n < 1 || n > maxMaxRetry {
		return fmt.Errorf("%q: maxretry must be from 1 to %d", value, maxMaxRetry)
	}
	p.MaxRetry = n
	return nil
}

func setDuration(p *Pipeline, key, value string) error {
	d, err := ParseDuration(value)
	if err != nil {
		return err
	}
	if key == "findtime" {
		if d == Permanent {
			return errors.New("findtime cannot be -1 (permanent); it is the window failures are counted in")
		}
		p.FindTime = Duration(d)
		return nil
	}
	p.BanTime = Duration(d)
	return nil
}

func setIgnoreIP(p *Pipeline, add bool, value string) error {
	if add {
		ps, err := ignorePrefixes(strings.TrimSpace(value))
		if err != nil {
			return err
		}
		list, added := slices.Clone(p.IgnoreIP), slices.Clone(p.addedIgnoreIP)
		for _, x := range ps {
			if !slices.Contains(list, x) {
				list, added = append(list, x), append(added, x)
			}
		}
		p.IgnoreIP, p.addedIgnoreIP = list, added
		return nil
	}
	x, err := parsePrefix(value)
	if err != nil {
		return err
	}
	if !slices.Contains(p.IgnoreIP, Prefix(x)) {
		return fmt.Errorf("%s is not in ignoreip (see logjail get PIPELINE ignoreip)", prefixString(x))
	}
	isX := func(y Prefix) bool { return y == Prefix(x) }
	p.IgnoreIP = slices.DeleteFunc(slices.Clone(p.IgnoreIP), isX)
	p.addedIgnoreIP = slices.DeleteFunc(slices.Clone(p.addedIgnoreIP), isX)
	return nil
}

// setIncrement sets bantime_increment or one of its fields, and resolves
// the plan's increment again.
func setIncrement(p *Pipeline, key, value string) error {
	if key == "bantime_increment" {
		on, err := yamlBool(value)
		switch {
		case err != nil:
			return err
		case !on:
			p.BanTimeIncrement, p.Plan.Increment = nil, nil
			return nil
		case p.BanTimeIncrement != nil:
			return nil // on already, its fields as they are
		}
		p.BanTimeIncrement = &IncrementSpec{}
	} else {
		field, ok := strings.CutPrefix(key, "bantime_increment.")
		set := incrementFields[field]
		if !ok || set == nil {
			return fmt.Errorf("%w (settable: %s)", ErrUnknownKey, strings.Join(SettableKeys, ", "))
		}
		if p.BanTimeIncrement == nil {
			return errors.New("bantime_increment is off; set bantime_increment true first")
		}
		inc := *p.BanTimeIncrement
		inc.Multipliers = slices.Clone(inc.Multipliers)
		if err := set(&inc, value); err != nil {
			return err
		}
		p.BanTimeIncrement = &inc
	}
	v := validator{decoder: &decoder{}}
	r := v.increment("bantime_increment", p.BanTimeIncrement)
	if len(v.errs) > 0 {
		// Load's messages, without their place (there is no file) nor the
		// key Set names.
		msgs := make([]string, len(v.errs))
		for i, e := range v.errs {
			msgs[i] = e.Error()
			if ce := (*Error)(nil); errors.As(e, &ce) {
				msgs[i] = strings.TrimPrefix(ce.Msg, key+": ")
			}
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	p.Plan.Increment = &r
	return nil
}

// yamlBool reads a boolean as the YAML does (true, false, yes, no, on, off
// are not all YAML 1.2: only what yaml.v3 reads as a bool).
func yamlBool(s string) (bool, error) {
	var b bool
	if err := yaml.Unmarshal([]byte(strings.TrimSpace(s)), &b); err != nil || strings.TrimSpace(s) == "" {
		return false, fmt.Errorf("%q is not true or false", s)
	}
	return b, nil
}
