package pipelines

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// setting finds the setting at a dotted path ("match.mode") among keys; a
// list item is its index ("ingest.0.file.paths").
func setting(keys []*Setting, path string) *Setting {
	first, rest, _ := strings.Cut(path, ".")
	for _, s := range keys {
		if s.Key != first {
			continue
		}
		if rest == "" {
			return s
		}
		if s.Kind == ListSetting {
			i, more, _ := strings.Cut(rest, ".")
			for j, item := range s.Items {
				if i == strconv.Itoa(j) {
					return setting(item, more)
				}
			}
			return nil
		}
		return setting(s.Keys, rest)
	}
	return nil
}

// TestShowNamesEachValuesFile: every value of the effective configuration
// says which file and line it came from, or that it is a default.
func TestShowNamesEachValuesFile(t *testing.T) {
	dir := useDefaults(t, "nested") + "/"
	e, err := Show("")
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Pipelines) != 1 || e.Pipelines[0].Key != "sshd" || e.Pipelines[0].From != dir+"logjail.yaml:5" || e.Fleet != nil {
		t.Fatalf("pipelines %+v fleet %+v", e.Pipelines, e.Fleet)
	}
	keys := e.Pipelines[0].Keys
	for _, tc := range []struct {
		path  string
		value any
		from  string
	}{
		{"enabled", true, "logjail.yaml:6"},
		{"maxretry", int64(3), "logjail.d/sshd.yaml:4"},
		{"findtime", "1d", "logjail.yaml:13"},
		{"bantime", "1h", "logjail.yaml:2"}, // from defaults
		{"match.filter", "sshd", "logjail.yaml:10"},
		{"match.mode", "aggressive", "logjail.d/sshd.yaml:6"},
		{"bantime_increment.factor", int64(3), "logjail.d/sshd.yaml:9"},
		{"bantime_increment.maxtime", "5w", "logjail.yaml:3"},
		{"ingest.0.file.paths", []any{"/var/log/auth.log"}, "logjail.yaml:8"},
		{"enforce.0.nftables.ports", []any{int64(22)}, "logjail.yaml:15"},
		{"ignoreip", []any{}, FromDefault},
		{"ignoreself", true, FromDefault},
		{"ignorecommand", "", FromDefault},
		{"ignorecommand_timeout", "5s", FromDefault},
		{"max_tracked", int64(DefaultMaxTracked), FromDefault},
		{"ipv6_prefix", int64(128), FromDefault},
		{"dbpurgeage", "1d", FromDefault},
	} {
		t.Run(tc.path, func(t *testing.T) {
			s := setting(keys, tc.path)
			if s == nil {
				t.Fatal("missing")
			}
			from := tc.from
			if from != FromDefault {
				from = dir + from
			}
			if s.Kind != ValueSetting || !reflect.DeepEqual(s.Value, tc.value) || s.From != from {
				t.Errorf("got %v %#v from %s, want %#v from %s", s.Kind, s.Value, s.From, tc.value, from)
			}
		})
	}
	if s := setting(keys, "ingest"); s.Kind != ListSetting || s.From != dir+"logjail.yaml:8" {
		t.Errorf("ingest: %+v", s)
	}
	// A block not written at all shows nothing of its own keys.
	if s := setting(keys, "enforce.0.nftables.table"); s != nil {
		t.Errorf("nftables.table not written, shown: %+v", s)
	}
}

// TestShowFleet: the fleet block merges like a pipeline's mappings.
func TestShowFleet(t *testing.T) {
	dir := useDefaults(t, "fleet") + "/"
	e, err := Show("")
	if err != nil {
		t.Fatal(err)
	}
	if e.Fleet == nil {
		t.Fatal("no fleet")
	}
	for path, from := range map[string]string{"nats.url": "logjail.d/nats.yaml:2", "nats.user": "logjail.yaml:2", "node": "logjail.yaml:3"} {
		if s := setting(e.Fleet.Keys, path); s == nil || s.From != dir+from {
			t.Errorf("fleet.%s: %+v, want from %s", path, s, dir+from)
		}
	}
}

// TestShowRefusesWhatLoadRefuses: Show validates as Load does.
func TestShowRefusesWhatLoadRefuses(t *testing.T) {
	useDefaults(t, "bad-value")
	if _, err := Show(""); err == nil || !strings.Contains(err.Error(), "logjail.d/sshd.yaml:5:15") {
		t.Fatalf("Show: %v", err)
	}
}

// TestShowResolvesFilters: match.filter says which filter its name found: a
// file of that name in the configuration's filters/ folder wins over the
// shipped filter, and an alias names the filter and mode it stands for.
func TestShowResolvesFilters(t *testing.T) {
	for _, tc := range []struct{ config, pipeline, want string }{
		{"testdata/merge/nested/logjail.yaml", "sshd", "shipped filter sshd"},
		{"logjail.yaml", "sshd", "filter file filters/sshd.yaml"}, // beside pipelines/filters/
	} {
		t.Run(tc.config, func(t *testing.T) {
			e, err := Show(tc.config)
			if err != nil {
				t.Fatal(err)
			}
			if s := setting(e.Pipelines[0].Keys, "match.filter"); s == nil || s.Resolved != tc.want {
				t.Errorf("match.filter: %+v, want resolved %q", s, tc.want)
			}
		})
	}
	dir := t.TempDir()
	cfg := "pipelines:\n  mail:\n    enabled: true\n    ingest: [{file: {paths: [/var/log/mail.log]}}]\n    match: {filter: postfix-sasl}\n"
	if err := os.WriteFile(filepath.Join(dir, "logjail.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := Show(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s := setting(e.Pipelines[0].Keys, "match.filter"); s == nil || s.Resolved != "shipped filter postfix, mode auth" {
		t.Errorf("match.filter: %+v, want the alias resolved", s)
	}

	// A filter's arguments show as written, and with the filter.
	cfg = "pipelines:\n  mail:\n    enabled: true\n    ingest: [{file: {paths: [/var/log/mail.log]}}]\n    match:\n      filter: exim-spam\n      args: {honeypot: trap@example.org}\n"
	if err := os.WriteFile(filepath.Join(dir, "logjail.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if e, err = Show(dir); err != nil {
		t.Fatal(err)
	}
	if s := setting(e.Pipelines[0].Keys, "match.filter"); s == nil || s.Resolved != "shipped filter exim-spam, honeypot=trap@example.org" {
		t.Errorf("match.filter: %+v, want the arguments", s)
	}
	s := setting(e.Pipelines[0].Keys, "match.args.honeypot")
	if s == nil || s.Value != "trap@example.org" || !strings.HasSuffix(s.From, "logjail.yaml:7") {
		t.Errorf("match.args.honeypot: %+v, want trap@example.org from logjail.yaml:7", s)
	}
}

// withoutDefault are the pipeline keys config show may print as null when
// nobody wrote them, each with what that means.
var withoutDefault = map[string]string{
	"match":             "no filter: a pipeline names its own (an enabled one must)",
	"bantime_increment": "off",
}

// TestShowDefaults: every key of a pipeline nobody wrote shows its
// built-in default, which is the value Load gives it (newPipeline), never
// a null, unless withoutDefault says why: a new key cannot be left
// without one.
func TestShowDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logjail.yaml")
	if err := os.WriteFile(path, []byte("pipelines:\n  quiet: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := Show(path)
	if err != nil {
		t.Fatal(err)
	}
	fields := specFields(reflect.TypeOf(Pipeline{}), nil)
	if len(e.Pipelines) != 1 || len(e.Pipelines[0].Keys) != len(fields) {
		t.Fatalf("pipelines %+v, want one with %d keys", e.Pipelines, len(fields))
	}
	for _, s := range e.Pipelines[0].Keys {
		if s.From != FromDefault {
			t.Errorf("%s: from %q, want %q", s.Key, s.From, FromDefault)
		}
		_, none := withoutDefault[s.Key]
		if (s.Value == nil) != none {
			t.Errorf("%s: default %#v; a key has a default (newPipeline) or is listed in withoutDefault", s.Key, s.Value)
		}
	}
	for key, want := range map[string]any{"log_failures": DefaultLogFailures, "ignoreself": DefaultIgnoreSelf, "ignorecommand_timeout": "5s", "maxretry": int64(DefaultMaxRetry), "enabled": false} {
		if s := setting(e.Pipelines[0].Keys, key); s == nil || !reflect.DeepEqual(s.Value, want) {
			t.Errorf("%s: %+v, want the default %#v", key, s, want)
		}
	}
}
