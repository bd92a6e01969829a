package pipelines

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/ingest/file"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/state"
)

// Stages are a pipeline's running parts, built from its spec.
type Stages struct {
	Spec    *Pipeline
	Sources []ingest.Source
	Matcher *match.Matcher
	Tracker *state.Tracker
}

// sourceKinds maps each ingest kind to its constructor: a closed table, so
// the set of kinds is visible in one place.
var sourceKinds = []struct {
	name  string
	build func(in IngestSpec, pos ingest.Positions, log *slog.Logger) (ingest.Source, bool, error)
}{
	{"file", func(in IngestSpec, pos ingest.Positions, log *slog.Logger) (ingest.Source, bool, error) {
		if in.File == nil {
			return nil, false, nil
		}
		t, err := file.New(file.Config{
			Paths:   in.File.Paths,
			Poll:    time.Duration(in.File.Poll),
			MaxLine: in.File.MaxLine,
		}, pos, log)
		return t, true, err
	}},
}

// Build turns a validated, enabled pipeline spec into its stages. pos gives
// the sources their committed positions.
func Build(p *Pipeline, pos ingest.Positions, log *slog.Logger) (*Stages, error) {
	log = log.With("pipeline", p.Name)
	st := &Stages{Spec: p}
	for _, in := range p.Ingest {
		built := false
		for _, k := range sourceKinds {
			src, ok, err := k.build(in, pos, log.With("source", k.name))
			if !ok {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s: pipelines.%s: %s source: %w", in.At, p.Name, k.name, err)
			}
			st.Sources = append(st.Sources, src)
			built = true
			break
		}
		if !built {
			return nil, fmt.Errorf("%s: pipelines.%s: ingest entry names no known source", in.At, p.Name)
		}
	}
	m, err := match.Compile(p.Name, p.Rules)
	if err != nil {
		return nil, fmt.Errorf("%s: pipelines.%s: %w", p.Match.At, p.Name, err)
	}
	st.Matcher = m
	st.Tracker = state.NewTracker(p.Policy())
	return st, nil
}

// Policy returns the pipeline's ban policy.
func (p *Pipeline) Policy() state.Policy {
	ignore := make([]netip.Prefix, len(p.IgnoreIP))
	for i, x := range p.IgnoreIP {
		ignore[i] = netip.Prefix(x)
	}
	ban := time.Duration(p.BanTime)
	if ban == Permanent {
		ban = state.PermanentBan
	}
	return state.Policy{
		Pipeline:   p.Name,
		MaxRetry:   p.MaxRetry,
		FindTime:   time.Duration(p.FindTime),
		BanTime:    ban,
		IgnoreIP:   ignore,
		MaxTracked: p.MaxTracked,
	}
}

// Paths describes what the pipeline watches, for status output.
func (s *Stages) Watching() []string {
	out := make([]string, len(s.Sources))
	for i, src := range s.Sources {
		out[i] = src.Describe()
	}
	return out
}
