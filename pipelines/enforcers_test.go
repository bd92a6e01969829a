package pipelines

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/enforce/exec"
	"github.com/logjail/logjail/enforce/mail"
	"github.com/logjail/logjail/state"
)

// firewallView stands in for the daemon's view of the shared firewall.
type firewallView struct{ pipeline string }

func (firewallView) Start(context.Context, []state.Decision, time.Time) error { return nil }
func (firewallView) Apply(context.Context, []state.Decision) error            { return nil }
func (firewallView) Stop()                                                    {}

// BuildEnforcers builds each entry through its kind: the firewall view for
// nftables, an exec action, one mail user however often a pipeline names
// the same mail block; only the log in a dry run or without entries; an
// entry that cannot be built is left out.
func TestBuildEnforcers(t *testing.T) {
	nft := EnforceSpec{NFTables: &NFTablesSpec{}}
	execSpec := EnforceSpec{Exec: &ExecSpec{Ban: []string{"true"}}}
	gone := EnforceSpec{Exec: &ExecSpec{Ban: []string{"/nonexistent/ban"}}}
	mailSpec := func() EnforceSpec {
		return EnforceSpec{Mail: &MailSpec{To: []string{"root@example.org"}, From: "logjail@example.org", SMTP: MailSMTPSpec{Addr: "127.0.0.1:1", TLS: "none"}}}
	}
	for _, tc := range []struct {
		name    string
		enforce []EnforceSpec
		dryRun  bool
		want    string // the kinds built, in order
	}{
		{"none", nil, false, "[dry-run]"},
		{"firewall alone", []EnforceSpec{nft}, false, "[firewall]"},
		{"firewall and exec", []EnforceSpec{nft, execSpec}, false, "[firewall exec]"},
		{"dry run", []EnforceSpec{nft, execSpec}, true, "[dry-run dry-run]"},
		{"same mail block twice", []EnforceSpec{mailSpec(), mailSpec()}, false, "[mail]"},
		{"unbuildable left out", []EnforceSpec{nft, gone}, false, "[firewall]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := mail.NewPool(nil)
			p := &Pipeline{Name: "p", Enabled: true, Enforce: tc.enforce}
			p.Plan = validator{decoder: &decoder{}}.plan(p, nil) // as Load resolves it
			e := BuildEnforcers(p, EnforceDeps{
				Firewall: func(p string) enforce.Enforcer { return firewallView{p} },
				Mailers:  pool, DryRun: tc.dryRun, Log: slog.New(slog.DiscardHandler),
			})
			defer e.Stop()
			var got []string
			enforce.Each(e, func(x enforce.Enforcer) {
				switch x := x.(type) {
				case firewallView:
					if x.pipeline != "p" {
						t.Errorf("firewall view of %q", x.pipeline)
					}
					got = append(got, "firewall")
				case *exec.Exec:
					got = append(got, "exec")
				case *mail.User:
					got = append(got, "mail")
				case enforce.DryRun:
					got = append(got, "dry-run")
				default:
					got = append(got, fmt.Sprintf("%T", x))
				}
			})
			if fmt.Sprint(got) != tc.want {
				t.Errorf("built %v, want %s", got, tc.want)
			}
		})
	}
}

// An entry is of exactly one kind, as written and as resolved.
func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		name     string
		e        EnforceSpec
		resolved Enforcer
		want     string
	}{
		{"none", EnforceSpec{}, Enforcer{}, ""},
		{"two", EnforceSpec{NFTables: &NFTablesSpec{}, Exec: &ExecSpec{}}, Enforcer{NATS: &NATSEvents{}, Mail: &MailSpec{}}, ""},
		{"nftables", EnforceSpec{NFTables: &NFTablesSpec{}}, Enforcer{NFTables: &NFTables{}}, "nftables"},
		{"exec", EnforceSpec{Exec: &ExecSpec{}}, Enforcer{Exec: &ExecSpec{}}, "exec"},
		{"nats", EnforceSpec{NATS: &NATSEventsSpec{}}, Enforcer{NATS: &NATSEvents{}}, "nats"},
		{"mail", EnforceSpec{Mail: &MailSpec{}}, Enforcer{Mail: &MailSpec{}}, "mail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.e.kind()
			if got != tc.want {
				t.Errorf("kind %q, want %q", got, tc.want)
			}
			if resolved := tc.resolved.kind(); resolved != tc.want {
				t.Errorf("resolved kind %q, want %q", resolved, tc.want)
			}
			if got != "" && kindNamed(got) == nil {
				t.Errorf("no kind named %q in the table", got)
			}
		})
	}
}
