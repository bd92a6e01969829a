package pipelines

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/state/gate"
)

// ignoreip takes host names (resolved at load), ignoreself the host's own
// addresses (on by default), ignorecommand an external check.
func TestIgnoreRules(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "check")
	// Exit 0 (ignore) for 203.0.113.1 only; the address arrives as an argument.
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = 203.0.113.1 ]\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "logjail.yaml")
	os.WriteFile(cfgPath, []byte(strings.ReplaceAll(`
pipelines:
  a:
    enabled: true
    maxretry: 1
    ingest: [{file: {paths: [/var/log/a.log]}}]
    match: {failregex: ['^x <HOST>$']}
    ignoreip: [localhost, 192.0.2.0/24]
    ignorecommand: "SCRIPT --addr <ip>"
  b:
    enabled: true
    maxretry: 1
    ingest: [{file: {paths: [/var/log/b.log]}}]
    match: {failregex: ['^x <HOST>$']}
    ignoreself: false
`, "SCRIPT", script)), 0o600)
	// The script sees "--addr" first: make it check $2.
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$2\" = 203.0.113.1 ]\n"), 0o755)
	cfg, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Pipelines[0], cfg.Pipelines[1]
	got := map[string]bool{}
	for _, p := range a.IgnoreIP {
		got[netip.Prefix(p).String()] = true
	}
	if !got["127.0.0.1/32"] || !got["192.0.2.0/24"] {
		t.Errorf("ignoreip %v: want localhost resolved to 127.0.0.1", a.IgnoreIP)
	}
	now := time.Now()
	fail := func(p *Pipeline, addr string) bool {
		st, err := Build(p, Deps{Log: discard})
		if err != nil {
			t.Fatal(err)
		}
		c, full := st.Tracker.Fail(match.Failure{Addr: netip.MustParseAddr(addr), Time: now}, now)
		if !full {
			return false
		}
		// As the daemon's runner asks it: the whole gate, ignorecommand included.
		_, banned := st.Tracker.Decide(c, st.Tracker.Gate().Admit(gate.Single(c.Addr)))
		return banned
	}
	for _, tc := range []struct {
		p      *Pipeline
		addr   string
		banned bool
	}{
		{a, "127.0.0.1", false},   // localhost, by name
		{a, "192.0.2.9", false},   // CIDR
		{a, "203.0.113.1", false}, // ignorecommand says so
		{a, "203.0.113.2", true},  // ignorecommand says no
		{b, "127.0.0.1", false},   // ignoreself off, yet loopback is never a host address
		{a, "198.51.100.1", true}, // nothing ignores it
	} {
		if got := fail(tc.p, tc.addr); got != tc.banned {
			t.Errorf("%s %s: banned %v, want %v", tc.p.Name, tc.addr, got, tc.banned)
		}
	}
	// ignoreself (default on) covers the host's own addresses: loopback
	// is always one of them.
	c := *b
	c.IgnoreSelf = nil
	if fail(&c, "127.0.0.1") {
		t.Error("ignoreself default: 127.0.0.1 banned")
	}
}

func TestIgnoreErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ body, want string }{
		{"ignoreip: [no-such-host.invalid]", `host name "no-such-host.invalid" does not resolve`},
		{"ignorecommand: /nonexistent/check <ip>", "ignorecommand:"},
		// fail2ban runs it through a shell; without one, echo would always
		// succeed and the pipeline would ban nobody.
		{"ignorecommand: '/bin/echo <ip> | /bin/grep -q 192.0.2'", `it needs a shell ('|')`},
		{`ignorecommand: '/bin/test -n "<ip>" && exit 1'`, `it needs a shell ('&')`},
		{`ignorecommand: '/bin/check "$(hostname)" <ip>'`, `it needs a shell ('$')`},
	} {
		cfgPath := filepath.Join(dir, "c.yaml")
		os.WriteFile(cfgPath, []byte("pipelines:\n  a:\n    enabled: true\n    ingest: [{file: {paths: [/var/log/a.log]}}]\n    match: {failregex: ['^x <HOST>$']}\n    "+tc.body+"\n"), 0o600)
		if _, err := Load(cfgPath); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "c.yaml:6:") {
			t.Errorf("%s: got %v, want %q at line 6", tc.body, err, tc.want)
		}
	}
}

// IgnoreIPHolding tells the configuration's ignoreip entries holding an
// address from those logjail set addignoreip added, along a run of sets
// (runtime.yaml's sshd ignores 192.0.2.0/24 and 2001:db8::1).
func TestIgnoreIPHolding(t *testing.T) {
	p, _ := loadRuntime(t)
	for _, step := range []struct {
		name, key, value  string // the set, none for ""
		addr              string
		configured, added []string
	}{
		{"configured", "", "", "192.0.2.7", []string{"192.0.2.0/24"}, nil},
		{"none", "", "", "198.51.100.7", nil, nil},
		{"added", "addignoreip", "198.51.100.0/24", "198.51.100.7", nil, []string{"198.51.100.0/24"}},
		{"added inside a configured one", "addignoreip", "192.0.2.7", "192.0.2.7", []string{"192.0.2.0/24"}, []string{"192.0.2.7"}},
		{"adding a configured one adds nothing", "addignoreip", "192.0.2.0/24", "192.0.2.7", []string{"192.0.2.0/24"}, []string{"192.0.2.7"}},
		{"kept by another set", "maxretry", "2", "198.51.100.7", nil, []string{"198.51.100.0/24"}},
		{"added removed", "delignoreip", "198.51.100.0/24", "198.51.100.7", nil, nil},
		{"configured removed", "delignoreip", "192.0.2.0/24", "192.0.2.7", nil, []string{"192.0.2.7"}},
		{"IPv6", "", "", "2001:db8::1", []string{"2001:db8::1"}, nil},
	} {
		if step.key != "" {
			next, err := p.Set(step.key, step.value)
			if err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			p = next
		}
		configured, added := p.IgnoreIPHolding(netip.MustParseAddr(step.addr))
		if !slices.Equal(configured, step.configured) || !slices.Equal(added, step.added) {
			t.Errorf("%s: %s held by %q configured, %q added; want %q, %q", step.name, step.addr, configured, added, step.configured, step.added)
		}
	}
}
