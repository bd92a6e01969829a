package pipelines

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
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
// directory in name order, or with path "" the default configuration
// (DefaultConfigFile, then DefaultConfigDir's files); applies defaults and
// validates it. Later files win: mappings merge key by key, recursively,
// and a scalar or a list replaces the earlier one whole (see overlay). The
// error lists every problem, each as file:line:column: message.
func Load(path string) (*Config, error) {
	cfg, _, err := load(path)
	return cfg, err
}

// load is Load, returning the merged files too (for Show).
func load(path string) (*Config, *loaded, error) {
	files, err := configFiles(path)
	if err != nil {
		return nil, nil, err
	}
	if err := checkSizes(files); err != nil {
		return nil, nil, err
	}
	l := &loaded{d: &decoder{files: map[*yaml.Node]string{}}}
	d := l.d
	for _, f := range files {
		root, err := parseFile(d, f)
		if err != nil {
			d.errs = append(d.errs, err)
			continue
		}
		if root != nil { // nil: an empty file
			l.top.add(d, root)
		}
	}
	cfg := l.top.decode(d)
	cfg.Files = files
	if len(d.errs) == 0 {
		v := newValidator(d, filepath.Dir(files[0]))
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			v.dir = path
		}
		v.config(cfg)
		if len(d.errs) == 0 {
			if err := v.resolve(cfg); err != nil {
				d.errs = append(d.errs, err)
			}
		}
	}
	if len(d.errs) > 0 {
		return nil, nil, errors.Join(d.errs...)
	}
	cfg.Warnings = d.warnings
	return cfg, l, nil
}

// loaded is what load merged, with the decoder that knows each node's file.
type loaded struct {
	d   *decoder
	top merged
}

// merged is the top level of every file, merged (see overlay): the keys
// of defaults and of each pipeline, and the fleet block.
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
			m.defaults = d.mergeKeys(m.defaults, v, d.overlay)
		case "pipelines":
			if v.Kind != yaml.MappingNode && v.Tag != "!!null" {
				d.errorf(v, "pipelines: expected a mapping of pipeline names")
				continue
			}
			m.addPipelines(d, v)
		case "fleet":
			m.fleet = d.overlay(m.fleet, v)
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
		m.pipes[name.Value] = d.mergeKeys(m.pipes[name.Value], body, d.overlay)
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
		cfg.FleetSpec = &FleetSpec{}
		d.decodeStruct(m.fleet, reflect.ValueOf(cfg.FleetSpec).Elem(), "fleet")
	}
	slices.Sort(m.order)
	for _, name := range m.order {
		cfg.Pipelines = append(cfg.Pipelines, m.pipeline(d, name))
	}
	return cfg
}

// newPipeline is a pipeline before its keys are decoded: the built-in
// defaults, the one place they are set (config show reads them from here,
// and TestShowDefaults fails for a key left without one).
func newPipeline(name string) *Pipeline {
	ignoreSelf, logFailures := DefaultIgnoreSelf, DefaultLogFailures
	return &Pipeline{
		Name:                 name,
		MaxRetry:             DefaultMaxRetry,
		FindTime:             Duration(DefaultFindTime),
		BanTime:              Duration(DefaultBanTime),
		IgnoreSelf:           &ignoreSelf,
		LogFailures:          &logFailures,
		IgnoreCommandTimeout: Duration(DefaultIgnoreCommandTimeout),
		MaxTracked:           DefaultMaxTracked,
		IPv4Prefix:           DefaultIPv4Prefix,
		IPv6Prefix:           DefaultIPv6Prefix,
		DBPurgeAge:           Duration(DefaultDBPurgeAge),
	}
}

// keys are a pipeline's keys: the defaults', each replaced whole by the
// pipeline's own (as fail2ban's [DEFAULT] under a jail).
func (m *merged) keys(d *decoder, name string) []keyed {
	return d.mergeKeys(m.defaults, mappingOf(m.pipes[name], m.pipeAt[name]), nil)
}

// pipeline decodes one pipeline, remembering where each key was written
// and whether it came from defaults.
func (m *merged) pipeline(d *decoder, name string) *Pipeline {
	p := newPipeline(name)
	at := m.pipeAt[name]
	keys := m.keys(d, name)
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

// DurationOf converts a configuration duration.
func DurationOf(d Duration) time.Duration { return time.Duration(d) }
