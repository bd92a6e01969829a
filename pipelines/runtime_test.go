package pipelines

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func loadRuntime(t *testing.T) (sshd, plain *Pipeline) {
	t.Helper()
	cfg, err := Load("testdata/runtime.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Pipelines[1], cfg.Pipelines[0] // sorted by name
}

// Set parses a value as the YAML parses its key and changes a copy; Get
// reads it back as `logjail get --json` prints it.
func TestSetGet(t *testing.T) {
	for _, tc := range []struct {
		name, key, value string
		plain            bool // on the pipeline without bantime_increment
		get              string
		want             string // Get's answer as JSON after the Set
	}{
		{name: "maxretry", key: "maxretry", value: "3", want: `3`},
		{name: "findtime units", key: "findtime", value: "1h30m", want: `"1h30m"`},
		{name: "bantime permanent", key: "bantime", value: "-1", want: `"permanent"`},
		{name: "bantime as get writes it", key: "bantime", value: "permanent", want: `"permanent"`},
		{name: "addignoreip", key: "addignoreip", value: "198.51.100.0/24", get: "ignoreip", want: `["192.0.2.0/24","2001:db8::1","198.51.100.0/24"]`},
		{name: "addignoreip twice adds once", key: "addignoreip", value: "192.0.2.0/24", get: "ignoreip", want: `["192.0.2.0/24","2001:db8::1"]`},
		{name: "delignoreip", key: "delignoreip", value: "2001:db8::1", get: "ignoreip", want: `["192.0.2.0/24"]`},
		{name: "ignoreself", key: "ignoreself", value: "false", want: `false`},
		{name: "fail2ban's name of factor", key: "bantime.factor", value: "3", get: "bantime_increment.factor", want: `3`},
		{name: "multipliers as fail2ban writes them", key: "bantime_increment.multipliers", value: "1 2 4", want: `[1,2,4]`},
		{name: "multipliers as get writes them", key: "bantime_increment.multipliers", value: "[1, 2, 4]", want: `[1,2,4]`},
		{name: "increment off", key: "bantime_increment", value: "false", want: `null`},
		{name: "increment on", key: "bantime.increment", value: "true", plain: true, get: "bantime_increment.formula", want: `"default"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, plain := loadRuntime(t)
			if tc.plain {
				p = plain
			}
			before, _ := p.Get(tc.key)
			got, err := p.Set(tc.key, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if after, _ := p.Get(tc.key); !jsonEqual(before, after) {
				t.Errorf("Set changed its receiver: %v → %v", before, after)
			}
			v, err := got.Get(cmpString(tc.get, tc.key))
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := json.Marshal(v); string(b) != tc.want {
				t.Errorf("got %s, want %s", b, tc.want)
			}
		})
	}
}

// A bad value is refused with an error naming the key, as Load's would.
func TestSetRefuses(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"maxretry", "0", `maxretry: "0": maxretry must be from 1 to 1000`},
		{"maxretry", "many", `maxretry: expected an integer, got "many"`},
		{"maxretry", "2.5", `maxretry: expected an integer, got "2.5"`},
		{"findtime", "-1", "findtime: findtime cannot be -1"},
		{"bantime", "10x", `bantime: invalid duration "10x"`},
		{"addignoreip", "300.1.1.1", `addignoreip: invalid address "300.1.1.1"`},
		{"delignoreip", "203.0.113.9", "delignoreip: 203.0.113.9 is not in ignoreip"},
		{"ignoreself", "maybe", `ignoreself: "maybe" is not true or false`},
		{"bantime_increment.factor", "0", `bantime_increment.factor: "0" is not a number above 0`},
		{"bantime_increment.maxtime", "-1", "bantime_increment.maxtime: bantime_increment.maxtime cannot be -1"},
		{"bantime_increment.colour", "red", "bantime_increment.colour: unknown key"},
		{"usedns", "no", "usedns: unknown key"},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			p, _ := loadRuntime(t)
			_, err := p.Set(tc.key, tc.value)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q…", err, tc.want)
			}
		})
	}
	_, plain := loadRuntime(t)
	if _, err := plain.Set("bantime_increment.factor", "2"); err == nil || !strings.Contains(err.Error(), "bantime_increment is off") {
		t.Errorf("a field of an increment that is off: %v", err)
	}
}

// Get reads the read-only keys a fail2ban user asks for; an unknown key is
// ErrUnknownKey.
func TestGetReadOnly(t *testing.T) {
	p, _ := loadRuntime(t)
	for key, want := range map[string]string{
		"logpath":       `["/var/log/auth.log"]`,
		"journalmatch":  `["_SYSTEMD_UNIT=ssh.service"]`,
		"sources":       `["file /var/log/auth.log","journald _SYSTEMD_UNIT=ssh.service"]`,
		"filter":        `["sshd"]`,
		"ignorecommand": `""`,
		"ignoreself":    `true`,
	} {
		v, err := p.Get(key)
		if b, _ := json.Marshal(v); err != nil || string(b) != want {
			t.Errorf("%s: got %s %v, want %s", key, b, err, want)
		}
	}
	if _, err := p.Get("usedns"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown key: %v", err)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func cmpString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
