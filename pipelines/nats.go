package pipelines

import (
	"cmp"
	"errors"
	"github.com/logjail/logjail/ingest/keyerr"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/logjail/logjail/ingest/nats"
)

// DefaultNATSURL is the server of a nats enforcer or fleet that names none.
const DefaultNATSURL = "nats://127.0.0.1:4222"

// MaxFleetReplicas is the most replicas NATS gives a stream.
const MaxFleetReplicas = 5

// nodeName is what a fleet node may be called: it becomes part of durable
// consumer names and message ids.
var nodeName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// natsEvents checks a nats enforcer and returns it resolved.
func (v validator) natsEvents(p *Pipeline, n *NATSEventsSpec, fleet *Fleet) NATSEvents {
	what := p.label() + ": nats"
	r := resolveEvents(p.Name, n, fleet)
	if _, _, err := nats.ConnectOptions(r.Conn()); err != nil {
		for _, err := range keyerr.Each(err) {
			v.fail(n.Keys.errAt(n.At, "", err), "%s: %v", what, strings.TrimPrefix(err.Error(), "nats: "))
		}
	}
	if err := nats.CheckSubject(r.Subject); err != nil || strings.ContainsAny(r.Subject, "*>") {
		if err == nil {
			err = errWildcard
		}
		v.fail(n.Keys.at(n.At, "subject"), "%s: subject %q: %v", what, r.Subject, err)
	}
	if n.Stream != "" {
		if err := nats.CheckName(n.Stream); err != nil {
			v.fail(n.Keys.at(n.At, "stream"), "%s: stream %q: %v", what, n.Stream, err)
		}
	}
	if n.MaxBuffer < 0 {
		v.fail(n.Keys.at(n.At, "max_buffer"), "%s: max_buffer cannot be negative", what)
	}
	return r
}

// resolveEvents fills in a nats enforcer's defaults: the fleet's server
// (else the local one) and the pipeline's subject.
func resolveEvents(pipeline string, n *NATSEventsSpec, fleet *Fleet) NATSEvents {
	r := NATSEvents{NATSConnSpec: n.NATSConnSpec, Subject: n.Subject, Stream: n.Stream, MaxBuffer: n.MaxBuffer}
	if r.URL == "" {
		r.URL = DefaultNATSURL
		if fleet != nil && fleet.NATS.URL != "" {
			r.NATSConnSpec = fleet.NATS
		}
	}
	if r.Subject == "" {
		r.Subject = "logjail.bans." + pipeline
	}
	return r
}

var errWildcard = errors.New("events are published to one subject; no wildcards")

// fleet checks the fleet block and returns it resolved (nil without one).
func (v validator) fleet(cfg *Config) *Fleet {
	spec := cfg.FleetSpec
	if spec == nil {
		return nil
	}
	f, err := resolveFleet(spec)
	if _, _, err := nats.ConnectOptions(f.NATS.Conn()); err != nil {
		for _, err := range keyerr.Each(err) {
			v.fail(spec.Keys.errAt(spec.At, "nats", err), "fleet.nats: %v", strings.TrimPrefix(err.Error(), "nats: "))
		}
	}
	if err != nil {
		v.fail(spec.At, "fleet: node: not set and the host name is unknown: %v", err)
		return f
	}
	if !nodeName.MatchString(f.Node) {
		v.fail(spec.At, "fleet: node %q: letters, digits, '_' and '-' only, at most 64", f.Node)
	}
	if f.Replicas < 1 || f.Replicas > MaxFleetReplicas {
		v.fail(spec.At, "fleet: replicas: %d: between 1 and %d (NATS keeps a stream on at most %d servers)", f.Replicas, MaxFleetReplicas, MaxFleetReplicas)
	}
	if len(f.Share) == 0 {
		v.fail(spec.At, "fleet: share: name the pipelines whose failures and bans the fleet shares")
	}
	for _, name := range f.Share {
		p := cfg.Pipeline(name)
		switch {
		case p == nil:
			v.fail(spec.At, "fleet: share: no pipeline %q", name)
		case !p.Enabled:
			v.fail(spec.At, "fleet: share: pipeline %q is not enabled", name)
		}
	}
	return f
}

// resolveFleet fills in the fleet's defaults: the local NATS server, the
// host's name (its first label) as the node, one replica. The error is
// the host name's; the fleet is returned with the rest resolved.
func resolveFleet(spec *FleetSpec) (*Fleet, error) {
	f := &Fleet{NATS: spec.NATS, Node: spec.Node, Share: slices.Clone(spec.Share), Replicas: cmp.Or(spec.Replicas, 1)}
	if f.NATS.URL == "" {
		f.NATS.URL = DefaultNATSURL
	}
	if f.Node != "" {
		return f, nil
	}
	host, err := os.Hostname()
	if err != nil {
		return f, err
	}
	f.Node, _, _ = strings.Cut(host, ".")
	return f, nil
}

// Pipeline returns the declared pipeline called name, or nil.
func (c *Config) Pipeline(name string) *Pipeline {
	for _, p := range c.Pipelines {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Shared reports whether the fleet shares pipeline name.
func (c *Config) Shared(name string) bool {
	return c.Fleet != nil && slices.Contains(c.Fleet.Share, name)
}

// LongestBan is the longest ban this pipeline can decide; 0 when a ban can
// be permanent or grow without a cap.
func (p *Pipeline) LongestBan() time.Duration { return p.Policy(Deps{}).LongestBan() }
