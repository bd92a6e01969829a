package pipelines

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/logjail/logjail/ingest/bans"
	"github.com/logjail/logjail/ingest/journald"
	"github.com/logjail/logjail/ingest/keyerr"
)

// validator checks what the decoder cannot: value ranges, required parts,
// filters and regexes.
type validator struct {
	*decoder
	dir string
	// read keeps each pipeline's match rules as validation read them from
	// their filter files, so resolving does not read the files again; nil
	// when not kept.
	read map[*Pipeline]ruleTexts
}

// newValidator is Load's validator: it keeps what it reads for resolve.
func newValidator(d *decoder, dir string) validator {
	return validator{decoder: d, dir: dir, read: map[*Pipeline]ruleTexts{}}
}

// fail records an error; a place is reported once, though a defaults key is
// checked once per pipeline.
func (v validator) fail(at Pos, format string, args ...any) {
	if v.seen == nil {
		v.seen = map[string]bool{}
	}
	key := at.String() + ": " + fmt.Sprintf(format, args...)
	if v.seen[key] {
		return
	}
	v.seen[key] = true
	v.errs = append(v.errs, &Error{At: at, Msg: fmt.Sprintf(format, args...)})
}

// config checks a decoded configuration; it reads the specs and writes
// nothing into them (resolve derives what Build needs, afterwards).
func (v validator) config(cfg *Config) {
	fleet := v.fleet(cfg)
	v.bansSources(cfg)
	var table nftTable
	for _, p := range cfg.Pipelines {
		v.policy(p)
		if !p.Enabled {
			continue
		}
		if len(p.Ingest) == 0 {
			v.fail(p.At, "%s: no ingest source", p.label())
		}
		for _, in := range p.Ingest {
			v.ingest(p.label(), in)
		}
		v.match(p)
		v.enforcers(p, fleet, &table)
	}
}

// bansSources checks that every bans source follows other, enabled
// pipelines.
func (v validator) bansSources(cfg *Config) {
	enabled := map[string]bool{}
	for _, p := range cfg.Pipelines {
		enabled[p.Name] = p.Enabled
	}
	for _, p := range cfg.Pipelines {
		for _, in := range p.Ingest {
			if in.Bans == nil || !p.Enabled {
				continue
			}
			for _, name := range in.Bans.Pipelines {
				switch {
				case name == p.Name:
					v.fail(in.At, "%s: a bans source cannot follow its own pipeline", p.label())
				case !enabled[name]:
					v.fail(in.At, "%s: bans source: no enabled pipeline %q", p.label(), name)
				}
			}
		}
	}
}

// policy checks the counting and ban keys, of enabled pipelines and
// disabled ones alike.
func (v validator) policy(p *Pipeline) {
	if p.MaxRetry < 1 || p.MaxRetry > maxMaxRetry {
		v.fail(p.at("maxretry"), "%s: maxretry must be from 1 to %d", p.from("maxretry"), maxMaxRetry)
	}
	if p.FindTime == Duration(Permanent) {
		v.fail(p.at("findtime"), "%s: findtime cannot be -1 (permanent); it is the window failures are counted in", p.from("findtime"))
	}
	if c := p.IgnoreCommand; c.S != "" {
		if _, err := ignoreArgv(c.S); err != nil {
			v.fail(c.At, "%s: ignorecommand: %v", p.label(), err)
		}
	}
	if p.IgnoreCommandTimeout < 0 {
		v.fail(p.at("ignorecommand_timeout"), "%s: ignorecommand_timeout must be positive", p.from("ignorecommand_timeout"))
	}
	if p.MaxTracked < 1 || p.MaxTracked > maxMaxTracked {
		v.fail(p.at("max_tracked"), "%s: max_tracked must be from 1 to %d", p.from("max_tracked"), maxMaxTracked)
	}
	if p.IPv4Prefix < 1 || p.IPv4Prefix > 32 {
		v.fail(p.at("ipv4_prefix"), "%s: ipv4_prefix must be from 1 to 32", p.from("ipv4_prefix"))
	}
	if p.IPv6Prefix < 1 || p.IPv6Prefix > 128 {
		v.fail(p.at("ipv6_prefix"), "%s: ipv6_prefix must be from 1 to 128", p.from("ipv6_prefix"))
	}
	if p.DBPurgeAge == Duration(Permanent) {
		v.fail(p.at("dbpurgeage"), "%s: dbpurgeage cannot be -1; the ban history is kept for a time", p.from("dbpurgeage"))
	}
	if inc := p.BanTimeIncrement; inc != nil {
		v.increment(p.from("bantime_increment")+".bantime_increment", inc)
	}
}

func (v validator) ingest(name string, in IngestSpec) {
	switch countSet(in.File != nil, in.Journald != nil, in.Syslog != nil, in.NATS != nil, in.Bans != nil) {
	case 0:
		v.fail(in.At, "%s: ingest entry names no source (known: file, journald, syslog, nats, bans)", name)
		return
	case 1:
	default:
		v.fail(in.At, "%s: one source per ingest entry; list them separately", name)
		return
	}
	if f := in.File; f != nil {
		if len(f.Paths) == 0 {
			v.fail(in.At, "%s: file source without paths", name)
		}
		for _, p := range f.Paths {
			if !filepath.IsAbs(p) {
				v.fail(f.Keys.at(in.At, "paths"), "%s: file path %q is not absolute", name, p)
			}
		}
		if f.Poll < 0 {
			v.fail(f.Keys.at(in.At, "poll"), "%s: poll must be positive", name)
		}
	}
	if s := in.Syslog; s != nil && s.IdleTimeout < 0 {
		v.fail(s.Keys.at(in.At, "idle_timeout"), "%s: idle_timeout must be positive", name)
		return
	}
	// The source's own constructor checks the rest, without side effects
	// (nothing is opened, bound or connected).
	if _, err := buildSource(in, Deps{Bans: bans.NewBus(), Log: discard}); err != nil {
		if errors.Is(err, journald.ErrUnavailable) {
			v.warnings = append(v.warnings, fmt.Sprintf("%s: %s: %v; this pipeline will not start on this host", in.At, name, err))
			return
		}
		for _, err := range keyerr.Each(err) {
			v.fail(in.keys().errAt(in.At, "", err), "%s: %v", name, err)
		}
	}
}

// keys are where the keys of the entry's source were written.
func (in IngestSpec) keys() KeyPos {
	switch {
	case in.File != nil:
		return in.File.Keys
	case in.Syslog != nil:
		return in.Syslog.Keys
	case in.NATS != nil:
		return in.NATS.Keys
	}
	return nil
}

// countSet counts the true values: how many kinds an entry names.
func countSet(set ...bool) int {
	n := 0
	for _, s := range set {
		if s {
			n++
		}
	}
	return n
}

// discard is the log of what validation builds only to check it.
var discard = slog.New(slog.DiscardHandler)
