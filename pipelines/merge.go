package pipelines

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"
)

// The configuration read when no path is given (Load("")): the main file,
// then every *.yaml (and *.yml) of the directory in name order, later
// files winning, as fail2ban reads jail.conf and then jail.d/.
const (
	DefaultConfigFile = "/etc/logjail/logjail.yaml"
	DefaultConfigDir  = "/etc/logjail/logjail.d"
)

// defaultFile and defaultDir are DefaultConfigFile and DefaultConfigDir;
// the package's own tests point them elsewhere. (The command-line tests
// read the real paths, in a mount namespace of their own.)
var defaultFile, defaultDir = DefaultConfigFile, DefaultConfigDir

// configFiles lists the files path stands for, in merge order: the file
// itself, a directory's *.yaml files, or for "" the default configuration.
func configFiles(path string) ([]string, error) {
	if path == "" {
		return defaultFiles(defaultFile, defaultDir)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	files := yamlFiles(path)
	if len(files) == 0 {
		return nil, fmt.Errorf("config: %s: no *.yaml files", path)
	}
	return files, nil
}

// defaultFiles is file, which must exist, then the *.yaml files of dir,
// which may be missing or empty.
func defaultFiles(file, dir string) ([]string, error) {
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config: no --config given and %s does not exist (logjail reads it, then %s/*.yaml, when no --config is given)", file, dir)
	} else if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return []string{file}, nil
	case err != nil:
		return nil, fmt.Errorf("config: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("config: %s: not a directory", dir)
	}
	return append([]string{file}, yamlFiles(dir)...), nil
}

// yamlFiles lists the *.yaml and *.yml files of dir in name order.
func yamlFiles(dir string) []string {
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		files = append(files, m...)
	}
	slices.Sort(files)
	return files
}

// overlay lays over on base as a later file overrides an earlier one: two
// mappings merge key by key, recursively; anything else (a scalar, a list,
// null, a mapping over a scalar) replaces base whole. No file's nodes are
// changed: a merged mapping is a new node, placed and filed where base was
// written, and every value in it is still the node its file holds, so an
// error names the file that wrote the bad value.
func (d *decoder) overlay(base, over *yaml.Node) *yaml.Node {
	if base == nil {
		return over
	}
	b, o := resolve(base), resolve(over)
	if b.Kind != yaml.MappingNode || o.Kind != yaml.MappingNode {
		return over
	}
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: b.Tag, Style: b.Style, Line: b.Line, Column: b.Column}
	d.files[n] = d.files[b]
	entries := d.mergeKeys(keysOf(b), o, d.overlay)
	for _, e := range entries {
		n.Content = append(n.Content, e.key, e.val)
	}
	return n
}

// keysOf lists the entries of mapping m.
func keysOf(m *yaml.Node) []keyed {
	var out []keyed
	for i := 0; i+1 < len(m.Content); i += 2 {
		out = append(out, keyed{resolve(m.Content[i]), m.Content[i+1]})
	}
	return out
}

// mergeKeys overlays the entries of mapping m on base: a key m writes
// again takes combine(earlier value, m's value), or m's value when combine
// is nil (a pipeline's key replaces the defaults' key whole); a new key is
// appended. base is not changed.
func (d *decoder) mergeKeys(base []keyed, m *yaml.Node, combine func(base, over *yaml.Node) *yaml.Node) []keyed {
	out := slices.Clone(base)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := resolve(m.Content[i]), m.Content[i+1]
		j := slices.IndexFunc(out, func(e keyed) bool { return e.key.Value == k.Value })
		switch {
		case j < 0:
			out = append(out, keyed{k, v})
		case combine != nil:
			out[j] = keyed{k, combine(out[j].val, v)}
		default:
			out[j] = keyed{k, v}
		}
	}
	return out
}
