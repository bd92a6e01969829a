package exec

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest/keyerr"
	"github.com/logjail/logjail/state"
)

// recorder is a real program: it appends its arguments to a file.
func recorder(t *testing.T, exitCode int) (script, out string) {
	t.Helper()
	dir := t.TempDir()
	out = filepath.Join(dir, "calls")
	script = filepath.Join(dir, "record")
	body := "#!/bin/sh\necho \"$*\" >> " + out + "\nexit " + map[bool]string{true: "0", false: "3"}[exitCode == 0] + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, out
}

func calls(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

var t0 = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

func decision(prefix string, until time.Time) state.Decision {
	return state.Decision{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.MustParsePrefix(prefix), Time: t0, Until: until, Failures: 5}
}

func TestBanUnbanTemplates(t *testing.T) {
	script, out := recorder(t, 0)
	e, err := New(Config{
		Ban:   []string{script, "ban", "{{.Addr}}", "{{.Prefix}}", "{{.Pipeline}}", "{{.Bantime}}", "{{.Until}}", "{{.Failures}}"},
		Unban: []string{script, "unban", "{{.Addr}}"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.Ban(ctx, decision("203.0.113.7/32", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := e.Ban(ctx, decision("2001:db8::/64", time.Time{})); err != nil {
		t.Fatal(err)
	}
	if err := e.Unban(ctx, decision("203.0.113.7/32", t0)); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ban 203.0.113.7 203.0.113.7/32 sshd 3600 2026-11-25T08:00:00Z 5",
		"ban 2001:db8:: 2001:db8::/64 sshd -1  5",
		"unban 203.0.113.7",
	}
	if got := calls(t, out); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("calls:\n%q\nwant\n%q", got, want)
	}
}

func TestShellQuotesValues(t *testing.T) {
	_, out := recorder(t, 0)
	e, err := New(Config{Shell: true, Ban: []string{"echo", "{{.Addr}}", "$HOME", ">>", out}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Ban(context.Background(), decision("192.0.2.9/32", t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	got := calls(t, out)
	if len(got) != 1 || !strings.HasPrefix(got[0], "192.0.2.9 /") {
		t.Fatalf("shell run: %q (want the address, and $HOME expanded by the shell)", got)
	}
}

func TestFailuresAreRetriedAndReported(t *testing.T) {
	script, out := recorder(t, 3)
	e, err := New(Config{Ban: []string{script, "{{.Addr}}"}, Retries: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.sleep = func(time.Duration) {}
	err = e.Ban(context.Background(), decision("192.0.2.9/32", t0.Add(time.Minute)))
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("want the exit status, got %v", err)
	}
	if n := len(calls(t, out)); n != 3 {
		t.Fatalf("%d runs, want 3 (1 + 2 retries)", n)
	}
}

func TestTimeout(t *testing.T) {
	e, err := New(Config{Ban: []string{"sleep", "10"}, Timeout: 100 * time.Millisecond, Retries: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.sleep = func(time.Duration) {}
	start := time.Now()
	err = e.Ban(context.Background(), decision("192.0.2.9/32", t0.Add(time.Minute)))
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("want a timeout, got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the timeout did not stop the command")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no ban", Config{}, "ban: no command"},
		{"unknown field", Config{Ban: []string{"true", "{{.Nope}}"}}, "ban[1]"},
		{"bad template", Config{Ban: []string{"true"}, Unban: []string{"true", "{{"}}, "unban[1]"},
		{"missing program", Config{Ban: []string{"/nonexistent/ban"}}, "ban:"},
	} {
		if _, err := New(tc.cfg, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestConfigErrorsEveryKey: New reports every bad key, each carrying the
// key it is about, so that the configuration loader points at each.
func TestConfigErrorsEveryKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		keys []string
	}{
		{"no ban, negative retries", Config{Retries: -1}, []string{"ban", "retries"}},
		{"bad unban and stop", Config{Ban: []string{"true"}, Unban: []string{"{{"}, Stop: []string{"{{.Nope}}"}, Retries: -1}, []string{"retries", "unban", "stop"}},
		{"missing program, bad start", Config{Ban: []string{"/nonexistent/ban"}, Start: []string{"{{"}}, []string{"start", "ban"}},
	} {
		_, err := New(tc.cfg, nil)
		if _, ok := err.(interface{ Unwrap() []error }); !ok {
			t.Errorf("%s: got %v, want joined errors about %q", tc.name, err, tc.keys)
			continue
		}
		keys := keyerr.Keys(err)
		if !slices.Equal(keys, tc.keys) {
			t.Errorf("%s: keys %q (%v), want %q", tc.name, keys, err, tc.keys)
		}
	}
}

// The lifecycle: Start runs the start command and bans the active bans
// again, Apply runs one command per decision, Stop runs the stop command.
// Nothing else runs a command.
func TestLifecycle(t *testing.T) {
	script, out := recorder(t, 0)
	e, err := New(Config{
		Ban:      []string{script, "ban", "{{.Addr}}"},
		Unban:    []string{script, "unban", "{{.Addr}}"},
		Start:    []string{script, "start", "{{.Pipeline}}"},
		Stop:     []string{script, "stop", "{{.Pipeline}}"},
		Pipeline: "sshd",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.Start(ctx, []state.Decision{decision("192.0.2.1/32", time.Time{}), decision("192.0.2.2/32", time.Time{})}, t0); err != nil {
		t.Fatal(err)
	}
	unban := decision("192.0.2.1/32", t0)
	unban.Kind = state.Unban
	if err := e.Apply(ctx, []state.Decision{decision("192.0.2.3/32", time.Time{}), unban}); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	want := []string{"start sshd", "ban 192.0.2.1", "ban 192.0.2.2", "ban 192.0.2.3", "unban 192.0.2.1", "stop sshd"}
	if got := calls(t, out); !slices.Equal(got, want) {
		t.Fatalf("calls:\n%q\nwant\n%q", got, want)
	}
}

// Validate reports what New does, without building.
func TestValidateIsNewsCheck(t *testing.T) {
	for _, cfg := range []Config{
		{Ban: []string{"true"}},
		{},
		{Ban: []string{"true", "{{.Nope}}"}},
		{Ban: []string{"/nonexistent/ban"}, Retries: -1},
	} {
		_, newErr := New(cfg, nil)
		if err := Validate(cfg); (err == nil) != (newErr == nil) || err != nil && err.Error() != newErr.Error() {
			t.Errorf("%+v: Validate %v, New %v", cfg, err, newErr)
		}
	}
}
