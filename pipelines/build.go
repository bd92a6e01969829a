package pipelines

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/ingest/bans"
	"github.com/logjail/logjail/ingest/file"
	"github.com/logjail/logjail/ingest/journald"
	"github.com/logjail/logjail/ingest/keyerr"
	"github.com/logjail/logjail/ingest/nats"
	"github.com/logjail/logjail/ingest/syslog"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/filter"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
)

// Stages are a pipeline's running parts, built from its spec.
type Stages struct {
	Spec    *Pipeline
	Sources []ingest.Source
	Matcher match.Matcher
	Tracker *state.Tracker
}

// Count counts failure f at now and, once it fills its window, asks the
// whole gate (the ignorecommand last: it runs a program, so it is asked
// here, once a ban is due, never by the tracker) and decides. The daemon's
// runner and logjail simulate both count through it, so a simulation
// decides as the daemon would. ok is false when no ban is decided.
func (s *Stages) Count(f match.Failure, now time.Time) (d state.Decision, ok bool) {
	c, full := s.Tracker.Fail(f, now)
	if !full {
		return state.Decision{}, false
	}
	return s.Tracker.Decide(c, s.Tracker.Gate().Admit(gate.Single(c.Addr)))
}

// sourceKinds maps each ingest kind to its constructor: a closed table, so
// the set of kinds is visible in one place. A constructor returns ok=false
// when the spec is not of its kind.
var sourceKinds = []struct {
	name  string
	build func(in IngestSpec, deps Deps) (src ingest.Source, ok bool, err error)
}{
	{"file", func(in IngestSpec, deps Deps) (ingest.Source, bool, error) {
		if in.File == nil {
			return nil, false, nil
		}
		t, err := file.New(file.Config{
			Paths:    in.File.Paths,
			Poll:     time.Duration(in.File.Poll),
			MaxLine:  in.File.MaxLine,
			MaxFiles: in.File.MaxFiles,
			Budget:   deps.Files,
		}, deps.Positions, deps.Log)
		return t, true, err
	}},
	{"journald", func(in IngestSpec, deps Deps) (ingest.Source, bool, error) {
		j := in.Journald
		if j == nil {
			return nil, false, nil
		}
		src, err := journald.New(journald.Config{Match: j.Match, Namespace: j.Namespace, Files: j.Files, Directory: j.Directory}, deps.Positions, deps.Log)
		return src, true, err
	}},
	{"syslog", func(in IngestSpec, deps Deps) (ingest.Source, bool, error) {
		sl := in.Syslog
		if sl == nil {
			return nil, false, nil
		}
		cfg := syslog.Config{
			Listen:          sl.Listen,
			MaxMessage:      sl.MaxMessage,
			MaxConns:        sl.MaxConns,
			MaxConnsPerPeer: sl.MaxConnsPerPeer,
			IdleTimeout:     time.Duration(sl.IdleTimeout),
		}
		for _, p := range sl.Allow {
			cfg.Allow = append(cfg.Allow, netip.Prefix(p))
		}
		if t := sl.TLS; t != nil {
			cfg.TLS = syslog.TLSConfig{CertFile: t.Cert, KeyFile: t.Key, ClientCAFile: t.ClientCA, RequireClientCert: t.RequireClientCert,
				HandshakeTimeout: time.Duration(t.HandshakeTimeout)}
		}
		if sl.SocketMode != "" {
			mode, err := strconv.ParseUint(sl.SocketMode, 8, 32)
			if err != nil {
				return nil, true, keyerr.Wrap("socket_mode", fmt.Errorf("socket_mode: %q is not an octal permission such as 0660", sl.SocketMode))
			}
			cfg.SocketMode = fs.FileMode(mode)
		}
		src, err := syslog.New(cfg, deps.Log)
		return src, true, err
	}},
	{"nats", func(in IngestSpec, deps Deps) (ingest.Source, bool, error) {
		n := in.NATS
		if n == nil {
			return nil, false, nil
		}
		cfg := n.Conn()
		cfg.Subject, cfg.Queue = n.Subject, n.Queue
		if js := n.JetStream; js != nil {
			cfg.JetStream = &nats.JetStreamConfig{Stream: js.Stream, Durable: js.Durable}
		}
		src, err := nats.New(cfg, deps.Log)
		if err == nil && cfg.JetStream != nil {
			src.UsePositions(deps.Positions)
		}
		return src, true, err
	}},
	{"bans", func(in IngestSpec, deps Deps) (ingest.Source, bool, error) {
		if in.Bans == nil {
			return nil, false, nil
		}
		src, err := bans.New(deps.Bans, in.Bans.Pipelines)
		return src, true, err
	}},
}

// Deps are what sources need from the running daemon.
type Deps struct {
	// Positions gives sources their committed positions.
	Positions ingest.Positions
	// Bans carries the pipelines' ban decisions to bans sources.
	Bans *bans.Bus
	// Files is the descriptor budget all file sources share (nil:
	// unlimited).
	Files *file.Budget
	// Host are this host's addresses, followed live (ignoreself); nil
	// reads them once when the pipeline is built.
	Host gate.Addresses
	// Servers are the NATS servers logjail uses, never banned; nil for
	// none.
	Servers gate.Addresses
	Log     *slog.Logger
}

// buildSource constructs the one source an ingest entry declares.
func buildSource(in IngestSpec, deps Deps) (ingest.Source, error) {
	log := deps.Log
	for _, k := range sourceKinds {
		deps.Log = log.With("source", k.name)
		src, ok, err := k.build(in, deps)
		if ok {
			return src, err
		}
	}
	return nil, errors.New("ingest entry names no source")
}

// Build turns a loaded, enabled pipeline (its spec and the Plan Load
// resolved from it) into its stages. deps.Positions gives the sources
// their committed positions.
func Build(p *Pipeline, deps Deps) (*Stages, error) {
	st, err := BuildWithoutSources(p, deps)
	if err != nil {
		return nil, err
	}
	deps.Log = deps.Log.With("pipeline", p.Name)
	for _, in := range p.Ingest {
		if j := in.Journald; j != nil && len(j.Match) == 0 && len(p.Plan.JournalMatch) > 0 {
			// A fail2ban filter's journalmatch selects the journal entries,
			// as fail2ban's systemd backend does.
			jm := *j
			jm.Match = p.Plan.JournalMatch
			in.Journald = &jm
		}
		src, err := buildSource(in, deps)
		if err != nil {
			return nil, fmt.Errorf("%s: pipelines.%s: %w", in.At, p.Name, err)
		}
		st.Sources = append(st.Sources, src)
	}
	return st, nil
}

// BuildWithoutSources is Build but for the sources: the matcher and the
// tracker, which count and decide as the running pipeline does. logjail
// simulate replays logs through them, opening no source (no socket, no
// connection, no subscription).
func BuildWithoutSources(p *Pipeline, deps Deps) (*Stages, error) {
	if p.Plan == nil {
		return nil, fmt.Errorf("pipelines.%s: not resolved (pipelines come from Load)", p.Name)
	}
	if deps.Host == nil && p.ignoresSelf() {
		host, err := gate.HostNow()
		if err != nil {
			return nil, fmt.Errorf("pipelines.%s: ignoreself: %w", p.Name, err)
		}
		deps.Host = host
	}
	m, err := filter.Compile(p.Name, p.Plan.Rules)
	if err != nil {
		return nil, fmt.Errorf("%s: pipelines.%s: %w", p.Match.At, p.Name, err)
	}
	return &Stages{Spec: p, Matcher: m, Tracker: state.NewTracker(p.Policy(deps))}, nil
}

// ignoresSelf reports whether ignoreself is on (the default).
func (p *Pipeline) ignoresSelf() bool {
	if p.IgnoreSelf == nil {
		return DefaultIgnoreSelf
	}
	return *p.IgnoreSelf
}

// Policy returns the pipeline's ban policy, its gate given this host's
// addresses (when ignoreself is on) and the NATS servers by deps.
func (p *Pipeline) Policy(deps Deps) state.Policy {
	ignore := make([]netip.Prefix, len(p.IgnoreIP))
	for i, x := range p.IgnoreIP {
		ignore[i] = netip.Prefix(x)
	}
	ban := time.Duration(p.BanTime)
	if ban == Permanent {
		ban = state.PermanentBan
	}
	pol := state.Policy{
		Pipeline:    p.Name,
		IgnoreCheck: p.ignoreCheck(),
		MaxRetry:    p.MaxRetry,
		FindTime:    time.Duration(p.FindTime),
		BanTime:     ban,
		IgnoreIP:    ignore,
		Servers:     deps.Servers,
		MaxTracked:  p.MaxTracked,
		IPv4Prefix:  p.IPv4Prefix,
		IPv6Prefix:  p.IPv6Prefix,
		DBPurgeAge:  time.Duration(p.DBPurgeAge),
	}
	if p.ignoresSelf() {
		pol.Self = deps.Host
	}
	if pol.DBPurgeAge <= 0 {
		pol.DBPurgeAge = DefaultDBPurgeAge
	}
	if p.Plan != nil && p.Plan.Increment != nil {
		r := *p.Plan.Increment
		r.Multipliers = slices.Clone(r.Multipliers)
		pol.Increment = &r
	}
	return pol
}

// Paths describes what the pipeline watches, for status output.
func (s *Stages) Watching() []string {
	out := make([]string, len(s.Sources))
	for i, src := range s.Sources {
		out[i] = src.Describe()
	}
	return out
}
