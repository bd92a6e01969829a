package pipelines

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Effective is a configuration as it takes effect, every value with where
// it came from: what `logjail config show` prints.
type Effective struct {
	// Files are the files read, in merge order.
	Files []string
	// Pipelines are MapSettings named after their pipelines, by name.
	Pipelines []*Setting
	// Fleet is the fleet block, a MapSetting; nil when none is written.
	Fleet *Setting
}

// SettingKind tells what a Setting holds.
type SettingKind int

// The kinds of setting, by how a later file overrides them.
const (
	// ValueSetting is a scalar or a list of scalars: replaced whole.
	ValueSetting SettingKind = iota
	// ListSetting is a list of mappings (ingest, enforce): replaced whole;
	// its items' keys say where each was written.
	ListSetting
	// MapSetting is a mapping: merged key by key.
	MapSetting
)

// Setting is one key of the effective configuration.
type Setting struct {
	Key  string
	Kind SettingKind
	// Value is a ValueSetting's: a string, an int64, a bool, nil, or a
	// []any of those.
	Value any
	// Items are a ListSetting's mappings.
	Items [][]*Setting
	// Keys are a MapSetting's settings, in the order the spec declares
	// them.
	Keys []*Setting
	// From is "FILE:LINE" where the value was written, or "default" for a
	// built-in default; for a MapSetting (merged from several places)
	// where it is first named, or "".
	From string
	// Resolved says what a value named, where that is not plain: the
	// filter of match.filter (see Plan.Filter).
	Resolved string
}

// FromDefault is a Setting's From when nobody wrote it.
const FromDefault = "default"

// Show loads and validates the configuration at path as Load does, and
// returns it effective: each pipeline's keys after defaults and every file
// are merged, with the value and place of each; a pipeline key nobody wrote
// shows its built-in default. A filter shows as the name it was given,
// with what that name found (Resolved); a password or token as Hidden.
func Show(path string) (*Effective, error) {
	cfg, l, err := load(path)
	if err != nil {
		return nil, err
	}
	d := l.d
	e := &Effective{Files: cfg.Files}
	for _, p := range cfg.Pipelines {
		n := mappingOf(l.top.keys(d, p.Name), nil)
		s := &Setting{
			Key: p.Name, Kind: MapSetting, From: d.from(l.top.pipeAt[p.Name]),
			Keys: d.showStruct(n, reflect.ValueOf(p).Elem(), true),
		}
		if f := keyNamed(keyNamed(s, "match"), "filter"); f != nil {
			f.Resolved = p.Plan.Filter
		}
		e.Pipelines = append(e.Pipelines, s)
	}
	if f := l.top.fleet; f != nil && resolve(f).Kind == yaml.MappingNode {
		e.Fleet = &Setting{Key: "fleet", Kind: MapSetting, Keys: d.showStruct(resolve(f), reflect.ValueOf(FleetSpec{}), false)}
	}
	return e, nil
}

// keyNamed is the key of MapSetting s so named; nil for none.
func keyNamed(s *Setting, key string) *Setting {
	if s == nil || s.Kind != MapSetting {
		return nil
	}
	for _, k := range s.Keys {
		if k.Key == key {
			return k
		}
	}
	return nil
}

// from is "FILE:LINE" of n.
func (d *decoder) from(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return fmt.Sprintf("%s:%d", d.files[n], n.Line)
}

// specField is a key of a spec struct: its name and field index.
type specField struct {
	name  string
	index []int
}

// specFields lists the keys of spec struct t in declaration order, the
// fields of an inline struct in its place.
func specFields(t reflect.Type, path []int) []specField {
	var out []specField
	for i := range t.NumField() {
		f := t.Field(i)
		at := append(append([]int(nil), path...), i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case opts == "inline" && f.Type.Kind() == reflect.Struct:
			out = append(out, specFields(f.Type, at)...)
		case name != "" && name != "-":
			out = append(out, specField{name, at})
		}
	}
	return out
}

// showStruct shows mapping n (nil or null for none) decoded into struct v:
// a key written shows as written; a key not written shows v's value as
// its built-in default when defaults is set, and not at all otherwise.
func (d *decoder) showStruct(n *yaml.Node, v reflect.Value, defaults bool) []*Setting {
	written := map[string]*yaml.Node{}
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			written[resolve(n.Content[i]).Value] = n.Content[i+1]
		}
	}
	var out []*Setting
	for _, f := range specFields(v.Type(), nil) {
		field := v.FieldByIndex(f.index)
		if val, ok := written[f.name]; ok {
			out = append(out, d.showValue(f.name, val, field.Type()))
		} else if defaults {
			out = append(out, &Setting{Key: f.name, Value: defaultValue(field), From: FromDefault})
		}
	}
	return out
}

// showValue shows the value n written for a key of type t.
func (d *decoder) showValue(key string, n *yaml.Node, t reflect.Type) *Setting {
	n = resolve(n)
	s := &Setting{Key: key, From: d.from(n)}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct && !isScalarType(t):
		s.Kind, s.From = MapSetting, ""
		s.Keys = d.showStruct(n, reflect.New(t).Elem(), false)
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		// A mapping of values by name (match.args): each as written.
		s.Kind, s.From = MapSetting, ""
		s.Keys = []*Setting{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			s.Keys = append(s.Keys, d.showValue(resolve(n.Content[i]).Value, n.Content[i+1], t.Elem()))
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct && !isScalarType(t.Elem()):
		s.Kind = ListSetting
		s.Items = [][]*Setting{}
		for _, item := range n.Content {
			s.Items = append(s.Items, d.showStruct(resolve(item), reflect.New(t.Elem()).Elem(), false))
		}
	case secretKeys[key] && n.Kind == yaml.ScalarNode && n.Value != "":
		s.Value = Hidden
	default:
		s.Value = leafValue(n, t)
	}
	return s
}

// Hidden stands for a secret's value in the effective configuration, which
// ends up in terminals, tickets and bug reports.
const Hidden = "(hidden)"

// secretKeys are the keys whose values are secrets themselves (the keys
// naming a file that holds one, such as password_file, are shown).
var secretKeys = map[string]bool{"password": true, "token": true}

// isScalarType tells the struct types written as one scalar.
func isScalarType(t reflect.Type) bool { return t == textType || t == prefixType }

// leafValue is a scalar or a list of scalars, typed as the key is (a
// text written as a number, a port, stays one).
func leafValue(n *yaml.Node, t reflect.Type) any {
	if t.Kind() == reflect.Slice && n.Kind != yaml.SequenceNode {
		t = t.Elem() // one value where a list may be written
	}
	switch {
	case n.Kind == yaml.SequenceNode:
		elem := t
		if t.Kind() == reflect.Slice {
			elem = t.Elem()
		}
		out := []any{}
		for _, item := range n.Content {
			out = append(out, leafValue(resolve(item), elem))
		}
		return out
	case n.Tag == "!!null":
		return nil
	case t.Kind() == reflect.Int || t.Kind() == reflect.Uint16 || t == textType && n.Tag == "!!int":
		if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			return i
		}
	case t.Kind() == reflect.Bool:
		if b, err := strconv.ParseBool(n.Value); err == nil {
			return b
		}
	}
	return n.Value
}

// defaultValue is the built-in default of a pipeline key nobody wrote:
// the value newPipeline gave it, shown as it would be written; nil for a
// block not written (match, bantime_increment: off).
func defaultValue(v reflect.Value) any {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	switch {
	case v.Type() == durationType:
		return FormatDuration(DurationOf(Duration(v.Int())))
	case v.Type() == textType:
		return v.Interface().(Text).S // "": none (ignorecommand)
	}
	switch v.Kind() {
	case reflect.Int:
		return v.Int()
	case reflect.Bool:
		return v.Bool()
	case reflect.Slice:
		if v.Len() == 0 {
			return []any{}
		}
	}
	return nil
}
