package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/logjail/logjail/pipelines"
)

// configFlag is --config of run, validate and config show: a file, or a
// directory whose *.yaml and *.yml files are merged in name order; without
// it, the default configuration (pipelines.Load with ""). The word in
// backquotes is the placeholder urfave/cli shows (--config PATH), and
// stays in the text.
func configFlag() cli.Flag {
	return &cli.GenericFlag{
		Name: "config", Aliases: []string{"c"}, Value: &onePath{},
		Usage: "configuration `PATH`: a file, or a directory whose *.yaml and *.yml files are merged in name order (default: " +
			pipelines.DefaultConfigFile + ", then " + pipelines.DefaultConfigDir + "/*.yaml and *.yml)",
	}
}

// onePath is a flag given at most once: a second --config would silently
// replace the first, where its user expects the two merged (a directory
// does that).
type onePath struct {
	path string
	set  bool
}

func (p *onePath) Set(s string) error {
	if p.set {
		return errors.New("given twice; to merge several files, put them in a directory and give that")
	}
	p.path, p.set = s, true
	return nil
}

func (p *onePath) String() string { return p.path }

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "show the configuration in effect",
		Subcommands: []*cli.Command{{
			Name:  "show",
			Usage: "print the effective configuration, each value with the file:line it came from (or default)",
			Description: "Loads and validates the configuration as run does, and prints every pipeline after its\n" +
				"defaults and every file are merged: a key nobody wrote shows its built-in default, a filter\n" +
				"what its name found (a shipped filter or a file in filters/), a password or token (hidden).\n" +
				"Text is YAML with a `# FILE:LINE` (or `# default`) comment per value; --json prints\n" +
				`{"files": [...], "fleet": {...}, "pipelines": {"NAME": {...}}}, each value as {"value": V, "from": "FILE:LINE"}.`,
			Flags: []cli.Flag{configFlag(), jsonFlag()},
			Action: func(c *cli.Context) error {
				if c.NArg() != 0 {
					return fmt.Errorf("usage: logjail config show [--config PATH] [--json] (takes no arguments)")
				}
				e, err := pipelines.Show(c.String("config"))
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, effectiveJSON(e))
				}
				return printEffective(c.App.Writer, e)
			},
		}},
	}
}

// printEffective writes e as YAML, each value followed by a comment saying
// where it came from; keys in the order the spec declares them.
func printEffective(w io.Writer, e *pipelines.Effective) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# files, in merge order: %s\n", strings.Join(e.Files, ", "))
	if e.Fleet != nil {
		writeSetting(&b, e.Fleet, "")
	}
	b.WriteString("pipelines:\n")
	for _, p := range e.Pipelines {
		writeSetting(&b, p, "  ")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeSetting writes s at indent pad.
func writeSetting(b *strings.Builder, s *pipelines.Setting, pad string) {
	from := ""
	if s.From != "" {
		from = "  # " + s.From
	}
	if s.Resolved != "" {
		from += " (" + s.Resolved + ")"
	}
	switch s.Kind {
	case pipelines.MapSetting:
		if len(s.Keys) == 0 {
			fmt.Fprintf(b, "%s%s: {}%s\n", pad, s.Key, from)
			return
		}
		fmt.Fprintf(b, "%s%s:%s\n", pad, s.Key, from)
		for _, k := range s.Keys {
			writeSetting(b, k, pad+"  ")
		}
	case pipelines.ListSetting:
		if len(s.Items) == 0 {
			fmt.Fprintf(b, "%s%s: []%s\n", pad, s.Key, from)
			return
		}
		fmt.Fprintf(b, "%s%s:%s\n", pad, s.Key, from)
		for _, item := range s.Items {
			writeItem(b, item, pad+"  ")
		}
	default:
		fmt.Fprintf(b, "%s%s: %s%s\n", pad, s.Key, yamlInline(s.Value), from)
	}
}

// writeItem writes one mapping of a list at indent pad: "- " before its
// first key.
func writeItem(b *strings.Builder, item []*pipelines.Setting, pad string) {
	if len(item) == 0 {
		fmt.Fprintf(b, "%s- {}\n", pad)
		return
	}
	var ib strings.Builder
	for _, k := range item {
		writeSetting(&ib, k, pad+"  ")
	}
	b.WriteString(pad + "- " + strings.TrimPrefix(ib.String(), pad+"  "))
}

// yamlInline writes a value on one line as YAML would read it back: a
// scalar quoted where it must be, a list or a mapping in flow style.
func yamlInline(v any) string {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	if n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode {
		n.Style = yaml.FlowStyle // what it holds is written in flow style too
	}
	out, err := yaml.Marshal(&n)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// effectiveJSON is e as config show --json prints it.
func effectiveJSON(e *pipelines.Effective) orderedObject {
	pipes := orderedObject{}
	for _, p := range e.Pipelines {
		pipes = append(pipes, member{p.Key, settingJSON(p)})
	}
	doc := orderedObject{{"files", e.Files}}
	if e.Fleet != nil {
		doc = append(doc, member{"fleet", settingJSON(e.Fleet)})
	}
	return append(doc, member{"pipelines", pipes})
}

// settingJSON is a mapping as an object of its keys; any other value, one
// a later file replaces whole, as {"value": V, "from": "FILE:LINE"} (a list
// of mappings' V holding objects again).
func settingJSON(s *pipelines.Setting) any {
	switch s.Kind {
	case pipelines.MapSetting:
		return keysJSON(s.Keys)
	case pipelines.ListSetting:
		items := []any{}
		for _, item := range s.Items {
			items = append(items, keysJSON(item))
		}
		return orderedObject{{"value", items}, {"from", s.From}}
	}
	leaf := orderedObject{{"value", s.Value}, {"from", s.From}}
	if s.Resolved != "" {
		leaf = append(leaf, member{"resolved", s.Resolved})
	}
	return leaf
}

func keysJSON(keys []*pipelines.Setting) orderedObject {
	obj := orderedObject{}
	for _, k := range keys {
		obj = append(obj, member{k.Key, settingJSON(k)})
	}
	return obj
}

// orderedObject is a JSON object whose members keep their order (Go's
// maps would sort them).
type orderedObject []member

type member struct {
	key string
	val any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // regexes hold <HOST>
		if err := enc.Encode(m.key); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1) // Encode's newline
		b.WriteByte(':')
		if err := enc.Encode(m.val); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
