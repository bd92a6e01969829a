package pipelines

import (
	"cmp"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/enforce/exec"
	"github.com/logjail/logjail/enforce/mail"
	enfnats "github.com/logjail/logjail/enforce/nats"
	"github.com/logjail/logjail/ingest/keyerr"
	"github.com/logjail/logjail/state/store"
)

// enforcerKind is one kind of enforce entry: how Load checks it (read-only,
// errors naming the YAML key) and how the daemon builds it for a pipeline
// from the entry as resolved (the pipeline's Plan).
type enforcerKind struct {
	name     string
	validate func(v validator, p *Pipeline, e EnforceSpec, fleet *Fleet)
	build    func(p *Pipeline, e Enforcer, deps EnforceDeps) (enforce.Enforcer, error)
}

// enforcerKinds is every kind of enforcer: a closed table, as sourceKinds
// is for the sources. Which is chosen is the one key an entry sets.
var enforcerKinds = []enforcerKind{
	{
		name: "nftables",
		validate: func(v validator, p *Pipeline, e EnforceSpec, _ *Fleet) {
			v.nftables(p.label(), e.NFTables)
		},
		// The firewall is one table shared by every pipeline; the daemon
		// owns it and gives each pipeline its view.
		build: func(p *Pipeline, _ Enforcer, deps EnforceDeps) (enforce.Enforcer, error) {
			return deps.Firewall(p.Name), nil
		},
	},
	{
		name: "exec",
		validate: func(v validator, p *Pipeline, e EnforceSpec, _ *Fleet) {
			for _, err := range keyerr.Each(exec.Validate(e.Exec.config(p.Name))) {
				v.fail(e.Exec.Keys.errAt(e.At, "", err), "%s: %v", p.label(), err)
			}
		},
		build: func(p *Pipeline, e Enforcer, deps EnforceDeps) (enforce.Enforcer, error) {
			return exec.New(e.Exec.config(p.Name), deps.Log)
		},
	},
	{
		name: "nats",
		validate: func(v validator, p *Pipeline, e EnforceSpec, fleet *Fleet) {
			v.natsEvents(p, e.NATS, fleet)
		},
		build: banEvents,
	},
	{
		name: "mail",
		validate: func(v validator, p *Pipeline, e EnforceSpec, _ *Fleet) {
			v.mail(p.label(), e.Mail)
		},
		// Identical mail blocks share a mailer (deps.Mailers).
		build: func(p *Pipeline, e Enforcer, deps EnforceDeps) (enforce.Enforcer, error) {
			return deps.Mailers.Use(e.Mail.Config(), p.Name)
		},
	},
}

// kindNamed is the kind of that name; nil for none.
func kindNamed(name string) *enforcerKind {
	for i := range enforcerKinds {
		if enforcerKinds[i].name == name {
			return &enforcerKinds[i]
		}
	}
	return nil
}

// kind names the one enforcer an entry sets; "" unless exactly one.
func (e EnforceSpec) kind() string {
	return oneKind(map[string]bool{"nftables": e.NFTables != nil, "exec": e.Exec != nil, "nats": e.NATS != nil, "mail": e.Mail != nil})
}

// kind names the enforcer of a resolved entry.
func (e Enforcer) kind() string {
	return oneKind(map[string]bool{"nftables": e.NFTables != nil, "exec": e.Exec != nil, "nats": e.NATS != nil, "mail": e.Mail != nil})
}

// oneKind names the one kind set (by its name in enforcerKinds); "" unless
// exactly one is.
func oneKind(set map[string]bool) string {
	name, n := "", 0
	for k, on := range set {
		if on {
			name, n = k, n+1
		}
	}
	if n != 1 {
		return ""
	}
	return name
}

// EnforceDeps are what enforcers need from the running daemon.
type EnforceDeps struct {
	// Firewall is a pipeline's view of the shared firewall.
	Firewall func(pipeline string) enforce.Enforcer
	// Mailers shares one mailer between identical mail blocks.
	Mailers *mail.Pool
	// Outbox holds ban events until their publisher has sent them.
	Outbox *store.Store
	// Node names this logjail in ban events.
	Node string
	// DryRun makes every enforcer one that only logs.
	DryRun bool
	Log    *slog.Logger
}

// BuildEnforcers builds the enforcers of p, to be started with its active
// bans and stopped with it. An enforcer that cannot be built is logged
// and left out (Load checked what it could; what remains is the host's:
// a program gone, a file unreadable). A pipeline without enforcers only
// logs its decisions.
func BuildEnforcers(p *Pipeline, deps EnforceDeps) enforce.Enforcer {
	log := deps.Log.With("pipeline", p.Name)
	if len(p.Enforce) == 0 || p.Plan == nil {
		log.Warn("pipeline has no enforcer: its bans are recorded and logged only")
		return enforce.DryRun{Pipeline: p.Name, Log: deps.Log}
	}
	var m enforce.Multi
	for _, e := range p.Plan.Enforce {
		k := kindNamed(e.kind())
		if k == nil {
			continue // Load refuses it
		}
		if deps.DryRun {
			m = append(m, enforce.DryRun{Pipeline: p.Name, Log: deps.Log})
			continue
		}
		kdeps := deps
		kdeps.Log = log
		x, err := k.build(p, e, kdeps)
		if err != nil {
			log.Error(k.name+" enforcer", "err", err)
			continue
		}
		if slices.Contains(m, x) {
			continue // the same mail block twice: mailed once
		}
		m = append(m, x)
	}
	if len(m) == 1 {
		return m[0]
	}
	return m
}

// banEvents builds a nats enforcer. What an earlier configuration left in
// the outbox for another subject waits there, and the log says so.
func banEvents(p *Pipeline, e Enforcer, deps EnforceDeps) (enforce.Enforcer, error) {
	n := e.NATS
	cfg := enfnats.PublisherConfig{Conn: n.Conn(), Sink: "events/" + p.Name + "/" + n.Subject, MaxBuffer: n.MaxBuffer}
	for sink, count := range deps.Outbox.OutboxSinks("events/" + p.Name + "/") {
		if sink != cfg.Sink {
			deps.Log.Warn("ban events of an earlier configuration wait on disk; they are sent when a nats enforcer of this pipeline uses that subject again", "outbox", sink, "events", count)
		}
	}
	if n.Stream != "" {
		cfg.JetStream = true
		cfg.Streams = []enfnats.StreamSpec{{Name: n.Stream, Subjects: []string{n.Subject}, MaxAge: p.LongestBan()}}
	}
	pub, err := enfnats.NewPublisher(cfg, deps.Outbox, deps.Log)
	if err != nil {
		return nil, err
	}
	return enfnats.NewBanEvents(pub, n.Subject, deps.Node), nil
}

// config is the spec in the exec package's terms.
func (e *ExecSpec) config(pipeline string) exec.Config {
	return exec.Config{Ban: e.Ban, Unban: e.Unban, Start: e.Start, Stop: e.Stop, Shell: e.Shell,
		Timeout: time.Duration(e.Timeout), Retries: e.Retries, Pipeline: pipeline}
}

// Config is the spec in the mail package's terms.
func (m *MailSpec) Config() mail.Config {
	return mail.Config{
		To:       slices.Clone(m.To),
		From:     m.From,
		Sendmail: slices.Clone(m.Sendmail),
		SMTP: mail.SMTP{
			Addr: m.SMTP.Addr, TLS: m.SMTP.TLS, Username: m.SMTP.Username, Password: m.SMTP.Password,
			PasswordFile: m.SMTP.PasswordFile, CA: m.SMTP.CA, Timeout: time.Duration(m.SMTP.Timeout),
		},
		Whois:         m.Whois,
		WhoisServer:   m.WhoisServer,
		Lines:         m.Lines,
		On:            slices.Clone(m.On),
		Batch:         time.Duration(m.Batch),
		MaxPerHour:    m.MaxPerHour,
		SubjectPrefix: m.SubjectPrefix,
	}
}

var tableName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`)

// nftTable is the nftables table the pipelines checked so far use, and
// where it was first named: logjail uses one table.
type nftTable struct {
	name string
	at   Pos
}

// enforcers checks an enabled pipeline's enforce entries, each by its
// kind, and what holds across them: one nftables entry, one table for all
// pipelines, one nats entry per subject.
func (v validator) enforcers(p *Pipeline, fleet *Fleet, table *nftTable) {
	nft := 0
	subjects := map[string]Pos{}
	for _, e := range p.Enforce {
		k := kindNamed(e.kind())
		if k == nil {
			v.fail(e.At, "%s: each enforce entry names one enforcer (known: nftables, exec, nats, mail)", p.label())
			continue
		}
		k.validate(v, p, e, fleet)
		switch n := e.NFTables; {
		case e.NATS != nil:
			subject := resolveEvents(p.Name, e.NATS, fleet).Subject
			if at, dup := subjects[subject]; dup {
				v.fail(e.At, "%s: a second nats enforcer for subject %q (the first at %s)", p.label(), subject, at)
			}
			subjects[subject] = e.At
		case n != nil:
			if nft++; nft == 2 {
				v.fail(n.At, "%s: a second nftables enforcer; list all ports in one", p.label())
			}
			name := cmp.Or(n.Table, DefaultTable)
			if table.name != "" && name != table.name {
				v.fail(n.At, "%s: nftables table %q differs from %q used at %s; logjail uses one table", p.label(), name, table.name, table.at)
			}
			table.name, table.at = name, n.At
		}
	}
}

// nftables checks an nftables enforcer and returns it with its defaults
// filled in and its ports looked up.
func (v validator) nftables(name string, n *NFTablesSpec) NFTables {
	r := NFTables{Table: cmp.Or(n.Table, DefaultTable), Protocol: cmp.Or(n.Protocol, "tcp"), Action: cmp.Or(n.Action, "drop"), Hooks: slices.Clone(n.Hooks)}
	if n.Table != "" && !tableName.MatchString(n.Table) {
		v.fail(n.At, "%s: nftables table %q: invalid name", name, n.Table)
	}
	switch n.Protocol {
	case "", "tcp", "udp":
	default:
		v.fail(n.At, "%s: nftables protocol %q: want tcp or udp", name, n.Protocol)
		return r
	}
	switch n.Action {
	case "", "drop", "reject":
	default:
		v.fail(n.At, "%s: nftables action %q: want drop or reject", name, n.Action)
	}
	for _, h := range n.Hooks {
		if h != "input" && h != "forward" {
			v.fail(n.At, "%s: nftables hook %q: want input or forward", name, h)
		}
	}
	if len(r.Hooks) == 0 {
		r.Hooks = []string{"input"}
	}
	if len(n.Ports) > maxPorts {
		v.fail(n.At, "%s: %d ports; at most %d (leave ports out to ban all traffic)", name, len(n.Ports), maxPorts)
		return r
	}
	for _, port := range n.Ports {
		if num, ok := v.port(name, r.Protocol, port); ok {
			r.Ports = append(r.Ports, num)
		}
	}
	return r
}

// port checks one port of an nftables enforcer: a number, or a service
// name in /etc/services.
func (v validator) port(name, protocol string, port Text) (uint16, bool) {
	num, err := strconv.ParseUint(port.S, 10, 64)
	if err != nil {
		l, lerr := net.LookupPort(protocol, port.S)
		if lerr != nil {
			v.fail(port.At, "%s: port %q: not a number, nor a %s service name in /etc/services", name, port.S, protocol)
			return 0, false
		}
		num = uint64(l)
	}
	if num == 0 || num > 65535 {
		v.fail(port.At, "%s: port %d is out of range (1-65535)", name, num)
		return 0, false
	}
	return uint16(num), true
}

// mail checks a mail enforcer as the mailer will, without making one; a
// key already reported here is not reported again from the mailer's checks.
func (v validator) mail(name string, m *MailSpec) {
	at := m.At
	bad := map[string]bool{}
	for _, d := range []struct {
		key string
		val Duration
	}{{"batch", m.Batch}, {"smtp.timeout", m.SMTP.Timeout}} {
		if d.val == Duration(Permanent) {
			v.fail(m.Keys.at(at, d.key), "%s: mail: %s cannot be -1", name, d.key)
			bad[d.key] = true
		}
	}
	for _, f := range []struct{ key, path string }{{"smtp.password_file", m.SMTP.PasswordFile}, {"smtp.ca", m.SMTP.CA}} {
		if f.path != "" && !filepath.IsAbs(f.path) {
			v.fail(m.Keys.at(at, f.key), "%s: mail: %s: %q is not absolute", name, f.key, f.path)
			bad[f.key] = true
		}
	}
	for _, err := range keyerr.Each(mail.Validate(m.Config())) {
		if key, ok := keyerr.Key(err); ok && bad[key] {
			continue
		}
		v.fail(m.Keys.errAt(at, "", err), "%s: %v", name, err)
	}
}
