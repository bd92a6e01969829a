package pipelines

import (
	"errors"

	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/state"
)

// Plan is what a pipeline's validated spec resolves to: the filter's
// rules, bantime_increment's policy, and the enforcers with their defaults
// filled in and names looked up. Load resolves after validating, so the
// spec stays as it was written (validation never writes into it); Build
// and the daemon read the plan.
type Plan struct {
	// Rules are the match rules (filter file, mode and inline regexes
	// combined); empty for a disabled pipeline.
	Rules match.Rules
	// Filter says what the match's logjail filter resolved to, for `config
	// show`: "shipped filter NAME" or "filter file PATH" (a file of that
	// name in the configuration's filters/ wins over a shipped filter).
	Filter string
	// JournalMatch is a fail2ban filter's journalmatch, used by a journald
	// source of this pipeline that sets no match of its own.
	JournalMatch []string
	// Increment is bantime_increment's policy; nil when it is off.
	Increment *state.Increment
	// Enforce are the enforcers in the spec's order; empty for a disabled
	// pipeline.
	Enforce []Enforcer
}

// Enforcer is one resolved enforcer; exactly one kind is set. Exec and
// Mail are their specs, which need no resolving.
type Enforcer struct {
	At       Pos
	NFTables *NFTables
	Exec     *ExecSpec
	NATS     *NATSEvents
	Mail     *MailSpec
}

// NFTables is an nftables enforcer: table, protocol, action and hooks
// defaulted, ports as numbers.
type NFTables struct {
	Table    string
	Protocol string
	Action   string
	Hooks    []string
	Ports    []uint16
}

// NATSEvents is a nats enforcer with its server (by default the fleet's,
// else the local one) and subject (by default logjail.bans.<pipeline>).
type NATSEvents struct {
	NATSConnSpec
	Subject   string
	Stream    string
	MaxBuffer int
}

// Fleet is the fleet block resolved: the server defaulted, the node named
// (by default after the host), the replicas counted.
type Fleet struct {
	NATS     NATSConnSpec
	Node     string
	Share    []string
	Replicas int
}

// resolve derives what a validated configuration needs to run: the fleet
// and every pipeline's plan. It reports an error only when something read
// during validation changed since (a filter file).
func (v validator) resolve(cfg *Config) error {
	r := validator{decoder: &decoder{}, dir: v.dir, read: v.read}
	if cfg.FleetSpec != nil {
		cfg.Fleet, _ = resolveFleet(cfg.FleetSpec) // validation saw the host name
	}
	for _, p := range cfg.Pipelines {
		p.Plan = r.plan(p, cfg.Fleet)
	}
	return errors.Join(r.errs...)
}

// plan resolves one validated pipeline.
func (v validator) plan(p *Pipeline, fleet *Fleet) *Plan {
	pl := &Plan{}
	if inc := p.BanTimeIncrement; inc != nil {
		r := v.increment("bantime_increment", inc)
		pl.Increment = &r
	}
	if !p.Enabled {
		return pl
	}
	if r, ok := v.rules(p); ok {
		pl.Rules, pl.JournalMatch, pl.Filter = r.rules(), r.journal, r.filter
	}
	for _, e := range p.Enforce {
		r := Enforcer{At: e.At, Exec: e.Exec, Mail: e.Mail}
		if e.NFTables != nil {
			n := v.nftables(p.label(), e.NFTables)
			r.NFTables = &n
		}
		if e.NATS != nil {
			n := resolveEvents(p.Name, e.NATS, fleet)
			r.NATS = &n
		}
		pl.Enforce = append(pl.Enforce, r)
	}
	return pl
}
