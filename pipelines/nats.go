package pipelines

import (
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

// natsEvents checks a nats enforcer and fills in its defaults.
func (v validator) natsEvents(p *Pipeline, n *NATSEventsSpec, fleet *FleetSpec) {
	what := p.label() + ": nats"
	if n.URL == "" {
		n.URL = DefaultNATSURL
		if fleet != nil && fleet.NATS.URL != "" {
			n.NATSConnSpec = fleet.NATS
		}
	}
	if _, _, err := nats.ConnectOptions(n.Conn()); err != nil {
		for _, err := range keyerr.Each(err) {
			v.fail(n.Keys.errAt(n.At, "", err), "%s: %v", what, strings.TrimPrefix(err.Error(), "nats: "))
		}
	}
	if n.Subject == "" {
		n.Subject = "logjail.bans." + p.Name
	}
	if err := nats.CheckSubject(n.Subject); err != nil || strings.ContainsAny(n.Subject, "*>") {
		if err == nil {
			err = errWildcard
		}
		v.fail(n.Keys.at(n.At, "subject"), "%s: subject %q: %v", what, n.Subject, err)
	}
	if n.Stream != "" {
		if err := nats.CheckName(n.Stream); err != nil {
			v.fail(n.Keys.at(n.At, "stream"), "%s: stream %q: %v", what, n.Stream, err)
		}
	}
	if n.MaxBuffer < 0 {
		v.fail(n.Keys.at(n.At, "max_buffer"), "%s: max_buffer cannot be negative", what)
	}
}

var errWildcard = errors.New("events are published to one subject; no wildcards")

// fleet checks the fleet block and fills in the node name.
func (v validator) fleet(cfg *Config) {
	f := cfg.Fleet
	if f == nil {
		return
	}
	if f.NATS.URL == "" {
		f.NATS.URL = DefaultNATSURL
	}
	if _, _, err := nats.ConnectOptions(f.NATS.Conn()); err != nil {
		for _, err := range keyerr.Each(err) {
			v.fail(f.Keys.errAt(f.At, "nats", err), "fleet.nats: %v", strings.TrimPrefix(err.Error(), "nats: "))
		}
	}
	if f.Node == "" {
		host, err := os.Hostname()
		if err != nil {
			v.fail(f.At, "fleet: node: not set and the host name is unknown: %v", err)
			return
		}
		host, _, _ = strings.Cut(host, ".")
		f.Node = host
	}
	if !nodeName.MatchString(f.Node) {
		v.fail(f.At, "fleet: node %q: letters, digits, '_' and '-' only, at most 64", f.Node)
	}
	switch {
	case f.Replicas == 0:
		f.Replicas = 1
	case f.Replicas < 1 || f.Replicas > MaxFleetReplicas:
		v.fail(f.At, "fleet: replicas: %d: between 1 and %d (NATS keeps a stream on at most %d servers)", f.Replicas, MaxFleetReplicas, MaxFleetReplicas)
	}
	if len(f.Share) == 0 {
		v.fail(f.At, "fleet: share: name the pipelines whose failures and bans the fleet shares")
	}
	for _, name := range f.Share {
		p := cfg.Pipeline(name)
		switch {
		case p == nil:
			v.fail(f.At, "fleet: share: no pipeline %q", name)
		case !p.Enabled:
			v.fail(f.At, "fleet: share: pipeline %q is not enabled", name)
		}
	}
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
