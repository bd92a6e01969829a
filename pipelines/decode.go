package pipelines

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/logjail/logjail/ingest/keyerr"
)

// Pos is a place in a configuration file.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string {
	if p.File == "" {
		return "<config>"
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is a configuration error at a place in a file.
type Error struct {
	At  Pos
	Msg string
}

func (e *Error) Error() string { return e.At.String() + ": " + e.Msg }

// Text is a string together with where it was written, so that errors found
// later (a regex that does not compile) can still name file:line:column.
type Text struct {
	S  string
	At Pos
}

// Duration is a configuration duration (see ParseDuration).
type Duration time.Duration

// Prefix is an address or CIDR from the configuration.
type Prefix netip.Prefix

// decoder decodes yaml.Nodes strictly into the spec types by reflection: an
// unknown key, a wrong type or a bad value is an error naming file:line:col,
// and every error is collected instead of stopping at the first.
// (yaml.v3's Node.Decode does not reject unknown keys, so this walks the
// tree itself.)
type decoder struct {
	files map[*yaml.Node]string
	errs  []error
	seen  map[string]bool // places already reported
	// warnings stop one pipeline on this host but not the configuration.
	warnings []string
}

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.files[n], Line: n.Line, Col: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	e := &Error{At: d.pos(n), Msg: fmt.Sprintf(format, args...)}
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	// A defaults node is decoded once per pipeline; report each place once.
	if key := e.At.String(); !d.seen[key] {
		d.seen[key] = true
		d.errs = append(d.errs, e)
	}
}

// indexFiles records the file of every node of a document.
func (d *decoder) indexFiles(n *yaml.Node, file string) {
	if d.files == nil {
		d.files = map[*yaml.Node]string{}
	}
	d.files[n] = file
	for _, c := range n.Content {
		d.indexFiles(c, file)
	}
}

// checkDuplicates reports a key written twice in one mapping: merging
// files overrides keys on purpose, but within one mapping the second value
// silently winning hides a mistake.
func (d *decoder) checkDuplicates(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := resolve(n.Content[i])
			if seen[k.Value] {
				d.errorf(k, "key %q given twice in the same mapping", k.Value)
			}
			seen[k.Value] = true
		}
	}
	for _, c := range n.Content {
		d.checkDuplicates(c)
	}
}

var (
	textType     = reflect.TypeFor[Text]()
	durationType = reflect.TypeFor[Duration]()
	prefixType   = reflect.TypeFor[Prefix]()
	posType      = reflect.TypeFor[Pos]()
	keyPosType   = reflect.TypeFor[KeyPos]()
)

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// decode fills v (addressable) from n.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, what string) {
	n = resolve(n)
	if d.decodeSpecial(n, v, what) {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.Tag == "!!null" {
			return
		}
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), what)
		v.Set(p)
	case reflect.Struct:
		d.decodeStruct(n, v, what)
	case reflect.Slice:
		d.decodeSlice(n, v, what)
	case reflect.Map:
		d.decodeMap(n, v, what)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s: expected a string", what)
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, "%s: expected true or false, got %q", what, n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Uint16:
		d.decodeInt(n, v, what)
	default:
		panic("pipelines: decode: unsupported type " + v.Type().String())
	}
}

// decodeSpecial decodes the configuration's own scalar types (Text,
// Duration, Prefix); it reports false for any other type.
func (d *decoder) decodeSpecial(n *yaml.Node, v reflect.Value, what string) bool {
	var expected string
	switch v.Type() {
	case textType:
		expected = "a string"
	case durationType:
		expected = "a duration"
	case prefixType:
		expected = "an address or CIDR"
	default:
		return false
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s: expected %s", what, expected)
		return true
	}
	switch v.Type() {
	case textType:
		v.Set(reflect.ValueOf(Text{S: n.Value, At: d.pos(n)}))
	case durationType:
		dur, err := ParseDuration(n.Value)
		if err != nil {
			d.errorf(n, "%s: %v", what, err)
			return true
		}
		v.SetInt(int64(dur))
	case prefixType:
		p, err := parsePrefix(n.Value)
		if err != nil {
			d.errorf(n, "%s: %v", what, err)
			return true
		}
		v.Set(reflect.ValueOf(Prefix(p)))
	}
	return true
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, what string) {
	if v.Type().Elem() == prefixType && n.Kind == yaml.SequenceNode {
		d.decodePrefixList(n, v, what)
		return
	}
	if n.Tag == "!!null" {
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		return
	}
	items := n.Content
	if n.Kind == yaml.ScalarNode {
		// A single value where a list is expected, as fail2ban's
		// "logpath = /var/log/auth.log".
		items = []*yaml.Node{n}
	} else if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s: expected a list", what)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", what, i))
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, what string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping", what)
		return
	}
	m := reflect.MakeMap(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, e, what+"."+k.Value)
		m.SetMapIndex(reflect.ValueOf(k.Value), e)
	}
	v.Set(m)
}

// decodeInt reads an int or a uint16, bounded by its type.
func (d *decoder) decodeInt(n *yaml.Node, v reflect.Value, what string) {
	bits := v.Type().Bits()
	if v.Kind() == reflect.Int {
		i, err := strconv.ParseInt(n.Value, 10, bits)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, "%s: expected an integer, got %q", what, n.Value)
			return
		}
		v.SetInt(i)
		return
	}
	u, err := strconv.ParseUint(n.Value, 10, bits)
	if n.Kind != yaml.ScalarNode || err != nil {
		d.errorf(n, "%s: expected an integer from 0 to %d, got %q", what, uint64(1)<<bits-1, n.Value)
		return
	}
	v.SetUint(u)
}

// decodeStruct maps keys to fields by their yaml tag; a field of type Pos
// tagged `yaml:"-"` receives the mapping's own position.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, what string) {
	t := v.Type()
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			// Nothing to decode, but what validation finds missing
			// (a "-" alone in a list) is still reported here.
			for i := range t.NumField() {
				if t.Field(i).Type == posType {
					v.Field(i).Set(reflect.ValueOf(d.pos(n)))
				}
			}
			return
		}
		d.errorf(n, "%s: expected a mapping", what)
		return
	}
	fields := map[string][]int{}
	var names []string
	var collect func(t reflect.Type, v reflect.Value, path []int)
	collect = func(t reflect.Type, v reflect.Value, path []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			at := append(slices.Clone(path), i)
			if f.Type == posType {
				v.Field(i).Set(reflect.ValueOf(d.pos(n)))
				continue
			}
			if f.Type == keyPosType {
				keys := KeyPos{}
				d.keyPositions(n, "", keys)
				v.Field(i).Set(reflect.ValueOf(keys))
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if opts == "inline" && f.Type.Kind() == reflect.Struct {
				// The fields of an inline struct are keys of this mapping.
				collect(f.Type, v.Field(i), at)
				continue
			}
			if name == "" || name == "-" {
				continue
			}
			fields[name] = at
			names = append(names, name)
		}
	}
	collect(t, v, nil)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		idx, ok := fields[k.Value]
		if !ok {
			slices.Sort(names)
			d.errorf(k, "%s: unknown key %q (known: %s)", what, k.Value, strings.Join(names, ", "))
			continue
		}
		if seen[k.Value] {
			d.errorf(k, "%s: key %q given twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		d.decode(val, v.FieldByIndex(idx), joinWhat(what, k.Value))
	}
}

// KeyPos holds where each key of a mapping was written, by its dotted path
// inside the mapping ("max_connections", "tls.cert"); a field of this type
// tagged `yaml:"-"` receives its mapping's keys. It lets an error a
// constructor returns about one key (internal/keyerr) point at that key.
type KeyPos map[string]Pos

// at returns where key was written, else where the nearest mapping holding
// it was ("tls" for a missing "tls.key"), else fallback.
func (k KeyPos) at(fallback Pos, key string) Pos {
	for {
		if at, ok := k[key]; ok {
			return at
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			return fallback
		}
		key = key[:i]
	}
}

// errAt returns where the key err is about was written (prefix.key, for a
// constructor given a part of the mapping), or fallback when err names no
// key or the key was not written.
func (k KeyPos) errAt(fallback Pos, prefix string, err error) Pos {
	key, ok := keyerr.Key(err)
	if !ok {
		return fallback
	}
	return k.at(fallback, joinWhat(prefix, key))
}

func (d *decoder) keyPositions(n *yaml.Node, prefix string, out KeyPos) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		path := joinWhat(prefix, k.Value)
		out[path] = d.pos(k)
		d.keyPositions(resolve(n.Content[i+1]), path, out)
	}
}

func joinWhat(what, key string) string {
	if what == "" {
		return key
	}
	return what + "." + key
}

// isHostName reports whether s can only be a host name, not a mistyped
// address or CIDR.
func isHostName(s string) bool {
	return !strings.ContainsAny(s, "/:") && hostName.MatchString(s) && strings.ContainsFunc(s, unicode.IsLetter)
}

// lookupHost resolves a host name of ignoreip, as at load.
func lookupHost(name string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return net.DefaultResolver.LookupNetIP(ctx, "ip", name)
}

// ignorePrefixes reads an ignoreip entry: an address, a CIDR, or a host
// name, which stands for the addresses it resolves to.
func ignorePrefixes(s string) ([]Prefix, error) {
	p, err := parsePrefix(s)
	if err == nil {
		return []Prefix{Prefix(p)}, nil
	}
	if !isHostName(s) {
		return nil, err
	}
	addrs, rerr := lookupHost(s)
	if rerr != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("host name %q does not resolve: %v", s, rerr)
	}
	out := make([]Prefix, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		out = append(out, Prefix(netip.PrefixFrom(a, a.BitLen())))
	}
	return out, nil
}

// parsePrefix reads "192.0.2.7", "192.0.2.0/24", "2001:db8::/32" or "::1".
// IPv4-mapped IPv6 is normalised to IPv4, as addresses from logs are.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid address %q (want an IPv4/IPv6 address or CIDR)", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// hostName is what a name in an address list may look like.
var hostName = regexp.MustCompile(`^(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?))*\.?$`)

// decodePrefixList reads a list of addresses and CIDRs in which a host
// name stands for the addresses it resolves to when the configuration is
// loaded (fail2ban's ignoreip accepts names too).
func (d *decoder) decodePrefixList(n *yaml.Node, v reflect.Value, what string) {
	var out []Prefix
	for i, item := range n.Content {
		item = resolve(item)
		itemWhat := fmt.Sprintf("%s[%d]", what, i)
		if item.Kind != yaml.ScalarNode {
			d.errorf(item, "%s: expected an address, CIDR or host name", itemWhat)
			continue
		}
		ps, err := ignorePrefixes(item.Value)
		if err != nil {
			d.errorf(item, "%s: %v", itemWhat, err)
			continue
		}
		out = append(out, ps...)
	}
	s := reflect.MakeSlice(v.Type(), len(out), len(out))
	for i, p := range out {
		s.Index(i).Set(reflect.ValueOf(p))
	}
	v.Set(s)
}
