package pipelines

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/logjail/logjail/ingest/keyerr"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/logjail/logjail/ingest/bans"
	"github.com/logjail/logjail/ingest/journald"
	"github.com/logjail/logjail/state"
)

// Bounds that keep memory predictable: a window holds maxretry timestamps
// for each of max_tracked addresses.
const (
	maxMaxRetry   = 1000
	maxMaxTracked = 10_000_000
	maxPorts      = 1000
)

// pipelineName limits names to what fits an nftables set name ("<name>-v4").
var pipelineName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,27}$`)

// keyed is one mapping entry remembered with its key node, for merging.
type keyed struct{ key, val *yaml.Node }

// Load reads a configuration file, or every *.yaml / *.yml file of a
// directory in name order (later files win per key: per defaults key, and
// per key of each pipeline), applies defaults and validates it. The error
// lists every problem, each as file:line:column: message.
func Load(path string) (*Config, error) {
	files, err := configFiles(path)
	if err != nil {
		return nil, err
	}
	if err := checkSizes(files); err != nil {
		return nil, err
	}
	d := &decoder{}
	var top merged
	for _, f := range files {
		root, err := parseFile(d, f)
		if err != nil {
			d.errs = append(d.errs, err)
			continue
		}
		if root != nil { // nil: an empty file
			top.add(d, root)
		}
	}
	cfg := top.decode(d)
	cfg.Files = files
	if len(d.errs) == 0 {
		v := validator{decoder: d, dir: filepath.Dir(files[0])}
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			v.dir = path
		}
		v.config(cfg)
	}
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	cfg.Warnings = d.warnings
	return cfg, nil
}

// merged is the top level of every file, merged: the keys of defaults and
// of each pipeline, and the last file's fleet block.
type merged struct {
	defaults []keyed
	pipes    map[string][]keyed
	pipeAt   map[string]*yaml.Node // where each pipeline is first named
	order    []string
	fleet    *yaml.Node
}

// add merges one file's top-level mapping.
func (m *merged) add(d *decoder, root *yaml.Node) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := resolve(root.Content[i]), resolve(root.Content[i+1])
		switch k.Value {
		case "defaults":
			if v.Kind != yaml.MappingNode && v.Tag != "!!null" {
				d.errorf(v, "defaults: expected a mapping")
				continue
			}
			m.defaults = mergeKeys(m.defaults, v)
		case "pipelines":
			if v.Kind != yaml.MappingNode && v.Tag != "!!null" {
				d.errorf(v, "pipelines: expected a mapping of pipeline names")
				continue
			}
			m.addPipelines(d, v)
		case "fleet":
			m.fleet = v // a later file's fleet replaces an earlier one's
		default:
			d.errorf(k, "unknown top-level key %q (known: defaults, fleet, pipelines)", k.Value)
		}
	}
}

// addPipelines merges the pipelines mapping of one file.
func (m *merged) addPipelines(d *decoder, v *yaml.Node) {
	if m.pipes == nil {
		m.pipes, m.pipeAt = map[string][]keyed{}, map[string]*yaml.Node{}
	}
	for j := 0; j+1 < len(v.Content); j += 2 {
		name, body := resolve(v.Content[j]), resolve(v.Content[j+1])
		if !pipelineName.MatchString(name.Value) {
			d.errorf(name, "pipelines: invalid pipeline name %q (letters, digits, '_', '-', '.', at most 28)", name.Value)
			continue
		}
		if body.Kind != yaml.MappingNode && body.Tag != "!!null" {
			d.errorf(body, "pipelines.%s: expected a mapping", name.Value)
			continue
		}
		if _, ok := m.pipes[name.Value]; !ok {
			m.order = append(m.order, name.Value)
			m.pipeAt[name.Value] = name
		}
		m.pipes[name.Value] = mergeKeys(m.pipes[name.Value], body)
	}
}

// decode decodes the merged configuration into specs, the built-in
// defaults under what the files say.
func (m *merged) decode(d *decoder) *Config {
	// Defaults are checked on their own too, so a typo there is reported
	// even when every pipeline overrides the key.
	var scratch Pipeline
	d.decodeStruct(mappingOf(m.defaults, nil), reflect.ValueOf(&scratch).Elem(), "defaults")

	cfg := &Config{}
	if m.fleet != nil && m.fleet.Tag != "!!null" {
		cfg.Fleet = &FleetSpec{}
		d.decodeStruct(m.fleet, reflect.ValueOf(cfg.Fleet).Elem(), "fleet")
	}
	slices.Sort(m.order)
	for _, name := range m.order {
		cfg.Pipelines = append(cfg.Pipelines, m.pipeline(d, name))
	}
	return cfg
}

// pipeline decodes one pipeline, remembering where each key was written
// and whether it came from defaults.
func (m *merged) pipeline(d *decoder, name string) *Pipeline {
	p := &Pipeline{
		Name:       name,
		MaxRetry:   DefaultMaxRetry,
		FindTime:   Duration(DefaultFindTime),
		BanTime:    Duration(DefaultBanTime),
		MaxTracked: DefaultMaxTracked,
		IPv4Prefix: DefaultIPv4Prefix,
		IPv6Prefix: DefaultIPv6Prefix,
		DBPurgeAge: Duration(DefaultDBPurgeAge),
	}
	at := m.pipeAt[name]
	keys := mergeKeys(slices.Clone(m.defaults), mappingOf(m.pipes[name], at))
	d.decodeStruct(mappingOf(keys, at), reflect.ValueOf(p).Elem(), "pipelines."+name)
	p.At = d.pos(at)
	p.keyAt, p.keyFrom = map[string]Pos{}, map[string]string{}
	for _, e := range keys {
		p.keyAt[e.key.Value] = d.pos(resolve(e.val))
		p.keyFrom[e.key.Value] = "pipelines." + name
	}
	for _, e := range m.defaults {
		if p.keyAt[e.key.Value] == d.pos(resolve(e.val)) {
			p.keyFrom[e.key.Value] = "defaults"
		}
	}
	return p
}

func configFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, _ := filepath.Glob(filepath.Join(path, pat))
		files = append(files, m...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("config: %s: no *.yaml files", path)
	}
	slices.Sort(files)
	return files, nil
}

// parseFile returns the top-level mapping of a YAML file (nil when empty).
func parseFile(d *decoder, file string) (*yaml.Node, error) {
	data, err := readConfigFile(file)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parseDocument(d, file, data)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func parseDocument(d *decoder, file string, data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			return nil, nil
		}
		// yaml.v3 reports syntax errors as "yaml: line N: msg", without a column.
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &Error{At: Pos{File: file, Line: line, Col: 1}, Msg: m[2]}
		}
		return nil, &Error{At: Pos{File: file, Line: 1, Col: 1}, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	d.indexFiles(&doc, file)
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{At: Pos{File: file, Line: extra.Line, Col: extra.Column}, Msg: "a second YAML document; put one configuration per file"}
	}
	d.checkDuplicates(&doc)
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := resolve(doc.Content[0])
	if root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{At: d.pos(root), Msg: "expected a mapping at the top level"}
	}
	return root, nil
}

// mergeKeys overlays the entries of mapping m on base: a later key replaces
// an earlier one of the same name.
func mergeKeys(base []keyed, m *yaml.Node) []keyed {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := resolve(m.Content[i])
		replaced := false
		for j := range base {
			if base[j].key.Value == k.Value {
				base[j] = keyed{k, m.Content[i+1]}
				replaced = true
			}
		}
		if !replaced {
			base = append(base, keyed{k, m.Content[i+1]})
		}
	}
	return base
}

// mappingOf builds a mapping node from merged entries; at gives its position.
func mappingOf(entries []keyed, at *yaml.Node) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if at != nil {
		n.Line, n.Column = at.Line, at.Column
	}
	for _, e := range entries {
		n.Content = append(n.Content, e.key, e.val)
	}
	return n
}

// validator checks what the decoder cannot: value ranges, required parts,
// filters and regexes.
type validator struct {
	*decoder
	dir string
}

// fail records an error; a place is reported once, though a defaults key is
// checked once per pipeline.
func (v validator) fail(at Pos, format string, args ...any) {
	if v.seen == nil {
		v.seen = map[string]bool{}
	}
	key := at.String() + ": " + fmt.Sprintf(format, args...)
	if v.seen[key] {
		return
	}
	v.seen[key] = true
	v.errs = append(v.errs, &Error{At: at, Msg: fmt.Sprintf(format, args...)})
}

func (v validator) config(cfg *Config) {
	v.fleet(cfg)
	table, tableAt := "", Pos{}
	enabled := map[string]bool{}
	for _, p := range cfg.Pipelines {
		enabled[p.Name] = p.Enabled
	}
	for _, p := range cfg.Pipelines {
		for _, in := range p.Ingest {
			if in.Bans == nil || !p.Enabled {
				continue
			}
			for _, name := range in.Bans.Pipelines {
				switch {
				case name == p.Name:
					v.fail(in.At, "%s: a bans source cannot follow its own pipeline", p.label())
				case !enabled[name]:
					v.fail(in.At, "%s: bans source: no enabled pipeline %q", p.label(), name)
				}
			}
		}
	}
	for _, p := range cfg.Pipelines {
		if p.MaxRetry < 1 || p.MaxRetry > maxMaxRetry {
			v.fail(p.at("maxretry"), "%s: maxretry must be from 1 to %d", p.from("maxretry"), maxMaxRetry)
		}
		if p.FindTime == Duration(Permanent) {
			v.fail(p.at("findtime"), "%s: findtime cannot be -1 (permanent); it is the window failures are counted in", p.from("findtime"))
		}
		if c := p.IgnoreCommand; c.S != "" {
			if _, err := ignoreArgv(c.S); err != nil {
				v.fail(c.At, "%s: ignorecommand: %v", p.label(), err)
			}
		}
		if p.IgnoreCommandTimeout < 0 {
			v.fail(p.at("ignorecommand_timeout"), "%s: ignorecommand_timeout must be positive", p.from("ignorecommand_timeout"))
		}
		if p.MaxTracked < 1 || p.MaxTracked > maxMaxTracked {
			v.fail(p.at("max_tracked"), "%s: max_tracked must be from 1 to %d", p.from("max_tracked"), maxMaxTracked)
		}
		if p.IPv4Prefix < 1 || p.IPv4Prefix > 32 {
			v.fail(p.at("ipv4_prefix"), "%s: ipv4_prefix must be from 1 to 32", p.from("ipv4_prefix"))
		}
		if p.IPv6Prefix < 1 || p.IPv6Prefix > 128 {
			v.fail(p.at("ipv6_prefix"), "%s: ipv6_prefix must be from 1 to 128", p.from("ipv6_prefix"))
		}
		if p.DBPurgeAge == Duration(Permanent) {
			v.fail(p.at("dbpurgeage"), "%s: dbpurgeage cannot be -1; the ban history is kept for a time", p.from("dbpurgeage"))
		}
		if inc := p.BanTimeIncrement; inc != nil {
			v.increment(p.from("bantime_increment")+".bantime_increment", inc)
		}
		if !p.Enabled {
			continue
		}
		if len(p.Ingest) == 0 {
			v.fail(p.At, "%s: no ingest source", p.label())
		}
		for _, in := range p.Ingest {
			v.ingest(p.label(), in)
		}
		v.match(p)
		nft := 0
		subjects := map[string]Pos{}
		for _, e := range p.Enforce {
			if kinds := countSet(e.NFTables != nil, e.Exec != nil, e.NATS != nil, e.Mail != nil); kinds != 1 {
				v.fail(e.At, "%s: each enforce entry names one enforcer (known: nftables, exec, nats, mail)", p.label())
				continue
			}
			if e.Mail != nil {
				v.mail(p.label(), e.Mail)
				continue
			}
			if e.NATS != nil {
				v.natsEvents(p, e.NATS, cfg.Fleet)
				if at, dup := subjects[e.NATS.Subject]; dup {
					v.fail(e.At, "%s: a second nats enforcer for subject %q (the first at %s)", p.label(), e.NATS.Subject, at)
				}
				subjects[e.NATS.Subject] = e.At
				continue
			}
			if e.Exec != nil {
				if _, err := e.Exec.Build(discard); err != nil {
					for _, err := range keyerr.Each(err) {
						v.fail(e.Exec.Keys.errAt(e.At, "", err), "%s: %v", p.label(), err)
					}
				}
				continue
			}
			n := e.NFTables
			if nft++; nft == 2 {
				v.fail(n.At, "%s: a second nftables enforcer; list all ports in one", p.label())
			}
			v.nftables(p.label(), n)
			if n.Table == "" {
				n.Table = DefaultTable
			}
			if table != "" && n.Table != table {
				v.fail(n.At, "%s: nftables table %q differs from %q used at %s; logjail uses one table", p.label(), n.Table, table, tableAt)
			}
			table, tableAt = n.Table, n.At
		}
	}
}

// mail checks a mail enforcer by building it, as the daemon will.
func (v validator) mail(name string, m *MailSpec) {
	at := m.At
	bad := false
	for _, d := range []struct {
		key string
		val Duration
	}{{"batch", m.Batch}, {"smtp.timeout", m.SMTP.Timeout}} {
		if d.val == Duration(Permanent) {
			v.fail(m.Keys.at(at, d.key), "%s: mail: %s cannot be -1", name, d.key)
			bad = true
		}
	}
	for _, f := range []struct{ key, path string }{{"smtp.password_file", m.SMTP.PasswordFile}, {"smtp.ca", m.SMTP.CA}} {
		if f.path != "" && !filepath.IsAbs(f.path) {
			v.fail(m.Keys.at(at, f.key), "%s: mail: %s: %q is not absolute", name, f.key, f.path)
			bad = true
		}
	}
	if bad {
		return
	}
	if _, err := m.Build(discard); err != nil {
		for _, err := range keyerr.Each(err) {
			v.fail(m.Keys.errAt(at, "", err), "%s: %v", name, err)
		}
	}
}

// Bounds of bantime_increment.
const (
	maxFactor      = 1000
	maxMultipliers = 100
	maxMultiplier  = 1e6
)

// fail2ban's documented formulas, spaces removed, as a fail2ban
// configuration writes them.
var fail2banFormulas = map[string]state.Formula{
	"ban.Time*(1<<(ban.Countifban.Count<20else20))*banFactor":               state.FormulaDefault,
	"ban.Time*math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)": state.FormulaExp,
}

// increment checks bantime_increment and fills in inc.Resolved.
func (v validator) increment(name string, inc *IncrementSpec) {
	r := state.Increment{Factor: 1, OverallJails: inc.OverallJails}
	if inc.Factor.S != "" {
		f, err := strconv.ParseFloat(strings.TrimSpace(inc.Factor.S), 64)
		if err != nil || !(f > 0 && f <= maxFactor) {
			v.fail(inc.Factor.At, "%s.factor: %q is not a number above 0 and at most %d", name, inc.Factor.S, maxFactor)
		}
		r.Factor = f
	}
	switch f := inc.Formula.S; strings.TrimSpace(f) {
	case "", "default":
		r.Formula = state.FormulaDefault
	case "exp":
		r.Formula = state.FormulaExp
	default:
		formula, ok := fail2banFormulas[strings.Join(strings.Fields(f), "")]
		if !ok {
			v.fail(inc.Formula.At, "%s.formula: %q: logjail evaluates no Python; use default, exp, or multipliers", name, f)
		}
		r.Formula = formula
	}
	for _, m := range inc.Multipliers {
		// fail2ban writes them as one string: "1 2 4 8 16 32 64".
		fields := strings.FieldsFunc(m.S, func(c rune) bool { return c == ' ' || c == ',' || c == '\t' })
		if len(fields) == 0 {
			v.fail(m.At, "%s.multipliers: an empty multiplier", name)
		}
		for _, x := range fields {
			f, err := strconv.ParseFloat(x, 64)
			if err != nil || !(f > 0 && f <= maxMultiplier) {
				v.fail(m.At, "%s.multipliers: %q is not a number above 0 and at most %g", name, x, float64(maxMultiplier))
				continue
			}
			r.Multipliers = append(r.Multipliers, f)
		}
	}
	if len(r.Multipliers) > maxMultipliers {
		v.fail(inc.At, "%s.multipliers: %d values; at most %d (the last one repeats)", name, len(r.Multipliers), maxMultipliers)
	}
	for _, d := range []struct {
		key  string
		text Text
		to   *time.Duration
	}{{"maxtime", inc.MaxTime, &r.MaxTime}, {"rndtime", inc.RndTime, &r.RndTime}} {
		if d.text.S == "" {
			continue
		}
		dur, err := ParseDuration(d.text.S)
		switch {
		case err != nil:
			v.fail(d.text.At, "%s.%s: %v", name, d.key, err)
		case dur == Permanent:
			v.fail(d.text.At, "%s.%s cannot be -1 (permanent)", name, d.key)
		default:
			*d.to = dur
		}
	}
	inc.Resolved = r
}

func (v validator) ingest(name string, in IngestSpec) {
	switch countSet(in.File != nil, in.Journald != nil, in.Syslog != nil, in.NATS != nil, in.Bans != nil) {
	case 0:
		v.fail(in.At, "%s: ingest entry names no source (known: file, journald, syslog, nats, bans)", name)
		return
	case 1:
	default:
		v.fail(in.At, "%s: one source per ingest entry; list them separately", name)
		return
	}
	if f := in.File; f != nil {
		if len(f.Paths) == 0 {
			v.fail(in.At, "%s: file source without paths", name)
		}
		for _, p := range f.Paths {
			if !filepath.IsAbs(p) {
				v.fail(f.Keys.at(in.At, "paths"), "%s: file path %q is not absolute", name, p)
			}
		}
		if f.Poll < 0 {
			v.fail(f.Keys.at(in.At, "poll"), "%s: poll must be positive", name)
		}
	}
	if s := in.Syslog; s != nil && s.IdleTimeout < 0 {
		v.fail(s.Keys.at(in.At, "idle_timeout"), "%s: idle_timeout must be positive", name)
		return
	}
	// The source's own constructor checks the rest, without side effects
	// (nothing is opened, bound or connected).
	if _, err := buildSource(in, Deps{Bans: bans.NewBus(), Log: discard}); err != nil {
		if errors.Is(err, journald.ErrUnavailable) {
			v.warnings = append(v.warnings, fmt.Sprintf("%s: %s: %v; this pipeline will not start on this host", in.At, name, err))
			return
		}
		for _, err := range keyerr.Each(err) {
			v.fail(in.keys().errAt(in.At, "", err), "%s: %v", name, err)
		}
	}
}

// keys are where the keys of the entry's source were written.
func (in IngestSpec) keys() KeyPos {
	switch {
	case in.File != nil:
		return in.File.Keys
	case in.Syslog != nil:
		return in.Syslog.Keys
	case in.NATS != nil:
		return in.NATS.Keys
	}
	return nil
}

var discard = slog.New(slog.DiscardHandler)

var tableName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`)

func (v validator) nftables(name string, n *NFTablesSpec) {
	if n.Table != "" && !tableName.MatchString(n.Table) {
		v.fail(n.At, "%s: nftables table %q: invalid name", name, n.Table)
	}
	switch n.Protocol {
	case "":
		n.Protocol = "tcp"
	case "tcp", "udp":
	default:
		v.fail(n.At, "%s: nftables protocol %q: want tcp or udp", name, n.Protocol)
		return
	}
	switch n.Action {
	case "":
		n.Action = "drop"
	case "drop", "reject":
	default:
		v.fail(n.At, "%s: nftables action %q: want drop or reject", name, n.Action)
	}
	for _, h := range n.Hooks {
		if h != "input" && h != "forward" {
			v.fail(n.At, "%s: nftables hook %q: want input or forward", name, h)
		}
	}
	if len(n.Hooks) == 0 {
		n.Hooks = []string{"input"}
	}
	n.PortNumbers = nil
	if len(n.Ports) > maxPorts {
		v.fail(n.At, "%s: %d ports; at most %d (leave ports out to ban all traffic)", name, len(n.Ports), maxPorts)
		return
	}
	for _, port := range n.Ports {
		num, err := strconv.ParseUint(port.S, 10, 64)
		if err != nil {
			l, lerr := net.LookupPort(n.Protocol, port.S)
			if lerr != nil {
				v.fail(port.At, "%s: port %q: not a number, nor a %s service name in /etc/services", name, port.S, n.Protocol)
				continue
			}
			num = uint64(l)
		}
		if num == 0 || num > 65535 {
			v.fail(port.At, "%s: port %d is out of range (1-65535)", name, num)
			continue
		}
		n.PortNumbers = append(n.PortNumbers, uint16(num))
	}
}

// DurationOf converts a configuration duration.
func DurationOf(d Duration) time.Duration { return time.Duration(d) }

// countSet counts the true values: how many kinds an entry names.
func countSet(set ...bool) int {
	n := 0
	for _, s := range set {
		if s {
			n++
		}
	}
	return n
}
