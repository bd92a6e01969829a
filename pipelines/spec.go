// Package pipelines holds logjail's configuration: the YAML spec types, Load
// (files → decoded specs → validated, every error with file:line:column →
// resolved into each pipeline's Plan, the spec left as written), the
// shipped filters, and Build (a spec and its plan → its running stages).
package pipelines

import (
	"time"

	"github.com/logjail/logjail/ingest/nats"
)

// Built-in defaults, fail2ban's where it has one.
const (
	DefaultMaxRetry   = 5
	DefaultFindTime   = 10 * time.Minute
	DefaultBanTime    = 10 * time.Minute
	DefaultMaxTracked = 100000
	DefaultTable      = "logjail"
	// DefaultIPv4Prefix and DefaultIPv6Prefix count and ban each address
	// on its own.
	DefaultIPv4Prefix = 32
	DefaultIPv6Prefix = 128
	// DefaultDBPurgeAge is fail2ban's dbpurgeage.
	DefaultDBPurgeAge = 24 * time.Hour
	// DefaultIgnoreSelf and DefaultLogFailures are fail2ban's ignoreself
	// and its "Found" lines: on.
	DefaultIgnoreSelf  = true
	DefaultLogFailures = true
)

// Config is a loaded, validated configuration.
type Config struct {
	// Files are the configuration files read, in merge order.
	Files []string
	// Warnings are problems that stop one pipeline on this host but not
	// the others (journald unavailable), for `validate` and the log.
	Warnings []string
	// Pipelines holds every declared pipeline, enabled or not, by name.
	Pipelines []*Pipeline
	// FleetSpec is the fleet block as written, or nil; Fleet is it
	// resolved, the fleet this logjail belongs to.
	FleetSpec *FleetSpec
	Fleet     *Fleet
}

// Enabled returns the enabled pipelines.
func (c *Config) Enabled() []*Pipeline {
	var out []*Pipeline
	for _, p := range c.Pipelines {
		if p.Enabled {
			out = append(out, p)
		}
	}
	return out
}

// Pipeline is one pipeline's spec (a fail2ban jail), defaults applied.
type Pipeline struct {
	At      Pos    `yaml:"-"`
	Name    string `yaml:"-"`
	Enabled bool   `yaml:"enabled"`

	Ingest []IngestSpec `yaml:"ingest"`
	Match  MatchSpec    `yaml:"match"`

	MaxRetry int      `yaml:"maxretry"`
	FindTime Duration `yaml:"findtime"`
	BanTime  Duration `yaml:"bantime"`
	IgnoreIP []Prefix `yaml:"ignoreip"`
	// IgnoreSelf adds the host's own addresses to ignoreip (default true).
	IgnoreSelf *bool `yaml:"ignoreself"`
	// LogFailures logs every failure recognised, at info level (fail2ban's
	// "Found" line; default true).
	LogFailures *bool `yaml:"log_failures"`
	// IgnoreCommand is run before a ban with <ip> replaced by the address;
	// exit status 0 means: never ban it (fail2ban's ignorecommand).
	IgnoreCommand        Text     `yaml:"ignorecommand"`
	IgnoreCommandTimeout Duration `yaml:"ignorecommand_timeout"`
	// MaxTracked caps the addresses whose failures are being counted; the
	// stalest is forgotten first, so an attack from many addresses cannot
	// exhaust memory.
	MaxTracked int `yaml:"max_tracked"`
	// IPv4Prefix and IPv6Prefix are the prefix lengths failures are
	// counted and bans decided by (1-32, 1-128): with ipv6_prefix 64, an
	// attacker rotating addresses inside its /64 is one offender, and the
	// /64 is banned. ignoreip still applies to each real address.
	IPv4Prefix int `yaml:"ipv4_prefix"`
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// BanTimeIncrement lengthens the bans of repeat offenders (fail2ban's
	// bantime.increment and its bantime.* options); absent or null = off.
	BanTimeIncrement *IncrementSpec `yaml:"bantime_increment"`
	// DBPurgeAge is how long the ban history that bantime_increment counts
	// is kept (fail2ban's dbpurgeage; the history of a long ban is kept
	// until three times its duration has passed as well).
	DBPurgeAge Duration `yaml:"dbpurgeage"`

	Enforce []EnforceSpec `yaml:"enforce"`

	// Plan is what Load resolved from this spec (filter rules, defaults,
	// looked-up ports); Build reads it.
	Plan *Plan `yaml:"-"`

	// keyAt and keyFrom say where each key's value was written and whether
	// it came from defaults, so an error points at the line to change.
	keyAt   map[string]Pos
	keyFrom map[string]string
	// name for messages: "pipelines.NAME", or "filter" for `logjail test`.
	what string
	// addedIgnoreIP are the ignoreip entries logjail set addignoreip
	// added, which no configuration file holds (see IgnoreIPHolding).
	addedIgnoreIP []Prefix
}

// LogsFailures reports whether log_failures is on (the default, also for
// a pipeline without a spec).
func (p *Pipeline) LogsFailures() bool {
	if p == nil || p.LogFailures == nil {
		return DefaultLogFailures
	}
	return *p.LogFailures
}

func (p *Pipeline) label() string {
	if p.what != "" {
		return p.what
	}
	return "pipelines." + p.Name
}

func (p *Pipeline) at(key string) Pos {
	if at, ok := p.keyAt[key]; ok {
		return at
	}
	return p.At
}

func (p *Pipeline) from(key string) string {
	if f, ok := p.keyFrom[key]; ok {
		return f
	}
	return p.label()
}

// IncrementSpec is bantime_increment, with fail2ban's meaning of each
// bantime.* option. n is a prefix's number of earlier bans (within
// dbpurgeage); a first ban (n = 0) lasts bantime.
type IncrementSpec struct {
	At Pos `yaml:"-"`
	// Factor multiplies the ban time (default 1).
	Factor Text `yaml:"factor"`
	// Formula is "" or "default" (bantime × 2^n × factor, n capped at 20,
	// never below bantime), or "exp" (bantime × e^(n·factor), fail2ban's
	// "more aggressive" example); fail2ban's own text of either formula is
	// accepted too.
	Formula Text `yaml:"formula"`
	// Multipliers replace the formula: bantime × factor × multipliers[n],
	// the last repeating; a list, or fail2ban's space-separated string.
	Multipliers []Text `yaml:"multipliers"`
	// MaxTime caps an incremented ban time.
	MaxTime Text `yaml:"maxtime"`
	// RndTime adds a random 0..rndtime to an incremented ban time.
	RndTime Text `yaml:"rndtime"`
	// OverallJails counts earlier bans in every pipeline, not only this one.
	OverallJails bool `yaml:"overalljails"`
}

// IngestSpec is one source; exactly one kind is set.
type IngestSpec struct {
	At       Pos           `yaml:"-"`
	File     *FileSpec     `yaml:"file"`
	Journald *JournaldSpec `yaml:"journald"`
	Syslog   *SyslogSpec   `yaml:"syslog"`
	NATS     *NATSSpec     `yaml:"nats"`
	Bans     *BansSpec     `yaml:"bans"`
}

// BansSpec reads other pipelines' ban decisions (a recidive pipeline).
type BansSpec struct {
	Pipelines []string `yaml:"pipelines"`
}

// JournaldSpec reads the systemd journal.
type JournaldSpec struct {
	// Match holds journalctl-style FIELD=value terms; "+" separates OR groups.
	Match     []string `yaml:"match"`
	Namespace string   `yaml:"namespace"`
	// Files or Directory read given journal files instead of the system journal.
	Files     []string `yaml:"files"`
	Directory string   `yaml:"directory"`
}

// SyslogSpec listens for syslog messages.
type SyslogSpec struct {
	// Keys are where each key was written (see KeyPos).
	Keys KeyPos `yaml:"-"`
	// Listen is udp://HOST:PORT, tcp://HOST:PORT, tls://HOST:PORT or unix:///path.
	Listen string `yaml:"listen"`
	// Allow lists the senders accepted; empty accepts everyone.
	Allow      []Prefix `yaml:"allow"`
	MaxMessage int      `yaml:"max_message"`
	MaxConns   int      `yaml:"max_connections"`
	// MaxConnsPerPeer bounds one sender's share of max_connections.
	MaxConnsPerPeer int        `yaml:"max_connections_per_peer"`
	IdleTimeout     Duration   `yaml:"idle_timeout"`
	TLS             *SyslogTLS `yaml:"tls"`
	// SocketMode is a unix:// socket's permission, in octal ("0660").
	SocketMode string `yaml:"socket_mode"`
}

// SyslogTLS configures a tls:// listener.
type SyslogTLS struct {
	Cert              string `yaml:"cert"`
	Key               string `yaml:"key"`
	ClientCA          string `yaml:"client_ca"`
	RequireClientCert bool   `yaml:"require_client_cert"`
	// HandshakeTimeout bounds the TLS handshake (default 10s).
	HandshakeTimeout Duration `yaml:"handshake_timeout"`
}

// NATSSpec subscribes to a NATS subject.
type NATSSpec struct {
	// Keys are where each key was written (see KeyPos).
	Keys KeyPos `yaml:"-"`
	// The server (url, creds, nkey, user, password, token, tls).
	NATSConnSpec `yaml:",inline"`
	Subject      string         `yaml:"subject"`
	Queue        string         `yaml:"queue"`
	JetStream    *JetStreamSpec `yaml:"jetstream"`
}

// NATSTLS configures TLS towards the NATS server.
type NATSTLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// JetStreamSpec consumes a stream through a durable consumer.
type JetStreamSpec struct {
	Stream  string `yaml:"stream"`
	Durable string `yaml:"durable"`
}

// FileSpec tails files.
type FileSpec struct {
	// Keys are where each key was written (see KeyPos).
	Keys  KeyPos   `yaml:"-"`
	Paths []string `yaml:"paths"`
	// Poll is the interval of the stat safety net beside inotify.
	Poll Duration `yaml:"poll"`
	// MaxLine is the longest line accepted; longer lines are counted and skipped.
	MaxLine int `yaml:"max_line"`
	// MaxFiles is the most files the source keeps open; matching files
	// beyond it are reported, not followed.
	MaxFiles int `yaml:"max_files"`
}

// MatchSpec selects a filter and/or gives inline regexes.
type MatchSpec struct {
	At     Pos  `yaml:"-"`
	Filter Text `yaml:"filter"`
	// Fail2ban names a fail2ban filter file, read as fail2ban reads it
	// ("/etc/fail2ban/filter.d/sshd.conf", arguments allowed:
	// "…/sshd.conf[mode=aggressive]").
	Fail2ban Text `yaml:"fail2ban"`
	Mode     Text `yaml:"mode"`
	// Args are the filter's arguments (those its file declares under
	// arguments, or a fail2ban filter's options, as in its reference's
	// brackets), by name: {honeypot: trap@example.org}.
	Args        map[string]Text `yaml:"args"`
	Prefregex   Text            `yaml:"prefregex"`
	Failregex   []Text          `yaml:"failregex"`
	Ignoreregex []Text          `yaml:"ignoreregex"`
	// Datepattern is one pattern or a list of them (see datepatterns).
	Datepattern []Text `yaml:"datepattern"`
}

// EnforceSpec is one enforcer; exactly one kind is set.
type EnforceSpec struct {
	At       Pos             `yaml:"-"`
	NFTables *NFTablesSpec   `yaml:"nftables"`
	Exec     *ExecSpec       `yaml:"exec"`
	NATS     *NATSEventsSpec `yaml:"nats"`
	Mail     *MailSpec       `yaml:"mail"`
}

// NATSEventsSpec publishes the pipeline's bans and unbans as JSON events
// (DESIGN.md schema) on a NATS subject.
type NATSEventsSpec struct {
	At Pos `yaml:"-"`
	// Keys are where each key was written (see KeyPos).
	Keys KeyPos `yaml:"-"`
	// The server (url, creds, nkey, user, password, token, tls); url
	// defaults to fleet.nats.url (with its credentials), else
	// nats://127.0.0.1:4222.
	NATSConnSpec `yaml:",inline"`
	// Subject defaults to logjail.bans.<pipeline>.
	Subject string `yaml:"subject"`
	// Stream, when set, is a JetStream stream holding the events (created
	// if absent, its max age raised to the pipeline's longest ban), and an
	// event leaves the on-disk outbox only once the stream has it.
	Stream string `yaml:"stream"`
	// MaxBuffer bounds the events kept on disk while NATS is unreachable
	// (default 100000); beyond it the oldest are dropped and counted.
	MaxBuffer int `yaml:"max_buffer"`
}

// NATSConnSpec is a NATS server and its credentials (fleet.nats).
type NATSConnSpec struct {
	URL      string   `yaml:"url"`
	Creds    string   `yaml:"creds"`
	NKey     string   `yaml:"nkey"`
	User     string   `yaml:"user"`
	Password string   `yaml:"password"`
	Token    string   `yaml:"token"`
	TLS      *NATSTLS `yaml:"tls"`
}

// Conn is the connection in the nats source's terms.
func (n NATSConnSpec) Conn() nats.Config {
	cfg := nats.Config{URL: n.URL, Creds: n.Creds, NKeyFile: n.NKey, User: n.User, Password: n.Password, Token: n.Token}
	if t := n.TLS; t != nil {
		cfg.TLS = nats.TLSConfig{CAFile: t.CA, CertFile: t.Cert, KeyFile: t.Key}
	}
	return cfg
}

// FleetSpec joins this logjail to a fleet sharing failures and bans over
// NATS JetStream (the top-level `fleet` key).
type FleetSpec struct {
	At Pos `yaml:"-"`
	// Keys are where each key was written (see KeyPos).
	Keys KeyPos       `yaml:"-"`
	NATS NATSConnSpec `yaml:"nats"`
	// Node names this logjail in the fleet (default: the host name).
	Node string `yaml:"node"`
	// Share lists the pipelines whose failures and bans are shared.
	Share []string `yaml:"share"`
	// Replicas is how many servers of a NATS cluster keep each fleet
	// stream (default 1; 3 with a three-server cluster, so the fleet
	// survives a server's death).
	Replicas int `yaml:"replicas"`
}

// ExecSpec runs commands on bans and unbans (argv templates, see
// enforce/exec).
type ExecSpec struct {
	// Keys are where each key was written (see KeyPos).
	Keys    KeyPos   `yaml:"-"`
	Ban     []string `yaml:"ban"`
	Unban   []string `yaml:"unban"`
	Start   []string `yaml:"start"`
	Stop    []string `yaml:"stop"`
	Shell   bool     `yaml:"shell"`
	Timeout Duration `yaml:"timeout"`
	Retries int      `yaml:"retries"`
}

// MailSpec mails bans (and optionally unbans, starts and stops), batched,
// with whois records and log lines: fail2ban's mail actions. Each key is
// the field of enforce/mail.Config of the same name; see there for the
// defaults.
type MailSpec struct {
	At Pos `yaml:"-"`
	// Keys are where each key was written (see KeyPos).
	Keys KeyPos `yaml:"-"`
	// To lists the recipients (one address may be written without a list).
	To []string `yaml:"to"`
	// From is the sender.
	From string `yaml:"from"`
	// SMTP sends through an SMTP server; Sendmail through a local program.
	SMTP     MailSMTPSpec `yaml:"smtp"`
	Sendmail []string     `yaml:"sendmail"`
	// Whois adds the whois record of each banned address, asked of
	// WhoisServer first (default whois.iana.org, referrals followed).
	Whois       bool   `yaml:"whois"`
	WhoisServer string `yaml:"whois_server"`
	// Lines adds the log lines that led to each ban.
	Lines bool `yaml:"lines"`
	// On is what is mailed: ban (default), unban, start, stop.
	On []string `yaml:"on"`
	// Batch gathers decisions into one mail (default 1m); MaxPerHour caps
	// the mails of any hour (default 20, -1 no limit).
	Batch         Duration `yaml:"batch"`
	MaxPerHour    int      `yaml:"max_per_hour"`
	SubjectPrefix string   `yaml:"subject_prefix"`
}

// MailSMTPSpec is the smtp block of a mail enforcer.
type MailSMTPSpec struct {
	Addr         string   `yaml:"addr"`
	TLS          string   `yaml:"tls"`
	Username     string   `yaml:"username"`
	Password     string   `yaml:"password"`
	PasswordFile string   `yaml:"password_file"`
	CA           string   `yaml:"ca"`
	Timeout      Duration `yaml:"timeout"`
}

// NFTablesSpec bans in the kernel firewall.
type NFTablesSpec struct {
	At Pos `yaml:"-"`
	// Table is the inet table's name (default "logjail"); the same for every pipeline.
	Table string `yaml:"table"`
	// Ports limits the ban to these destination ports; empty = all traffic.
	Ports []Text `yaml:"ports"`
	// Protocol of Ports: tcp (default) or udp.
	Protocol string `yaml:"protocol"`
	// Action is drop (default) or reject.
	Action string `yaml:"action"`
	// Hooks are the chains to filter in: input (default), forward.
	Hooks []string `yaml:"hooks"`
}

// FilterFile is a filter declaration (pipelines/filters/NAME.yaml).
type FilterFile struct {
	// read is the file the filter was read from; "" for a shipped one.
	read        string
	Description string `yaml:"description"`
	Prefregex   Text   `yaml:"prefregex"`
	Failregex   []Text `yaml:"failregex"`
	Ignoreregex []Text `yaml:"ignoreregex"`
	// Datepattern is one pattern or a list of them, tried together: the
	// date that starts first in the line wins, on a tie the one listed
	// first (see datepatterns).
	Datepattern []Text `yaml:"datepattern"`
	// MaxLines, above 1, has the failregexes see the contents of the
	// last MaxLines lines joined by "\n" (fail2ban's maxlines): for a
	// program that writes one failure on several lines.
	MaxLines int `yaml:"maxlines"`
	// Undated says what date a line without one takes: "read_time" (the
	// default: when it was read) or "last_date" (the last date the log
	// gave, when less than a minute old, as fail2ban does): for a program
	// that writes the date on a line of its own.
	Undated Text `yaml:"undated"`
	// JournalMatch selects the program's entries when a pipeline reads
	// the journal without a match of its own ("_SYSTEMD_UNIT=sshd.service",
	// terms of one alternative joined by " + ", as fail2ban writes them).
	JournalMatch []Text `yaml:"journalmatch"`
	// Services are the programs (and versions) the filter was written
	// for, as `logjail filters` lists them.
	Services []string `yaml:"services"`
	// DefaultMode is the mode of a pipeline that names none (default
	// "normal"), as a fail2ban filter's [Init] mode.
	DefaultMode Text `yaml:"default_mode"`
	// Modes add failregexes to the base list; "normal" usually adds none.
	Modes map[string][]Text `yaml:"modes"`
	// Arguments are the values a pipeline may give the filter (match.args,
	// or NAME[arg=value] in a reference), by name; a regex names one as
	// ${NAME} (see FilterArgument).
	Arguments map[string]FilterArgument `yaml:"arguments"`
	// Fail2banDifferences lists where the filter deliberately disagrees
	// with fail2ban's filter of the same job on fail2ban's own sample log,
	// each with its reason. Matching ignores it; the agreement test
	// (TestShippedFiltersAgreeWithFail2ban) reads it and fails on a
	// difference not listed and on a listed one that does not occur.
	Fail2banDifferences []Fail2banDifference `yaml:"fail2ban_differences"`
	// Fail2banModeDifferences lists, in the same shape, where the filter
	// deliberately disagrees with what fail2ban's filter itself finds on
	// every line of its sample log in every one of its modes (annotated
	// or not), beyond those Fail2banDifferences already lists. Matching
	// ignores it; TestShippedFiltersAgreeWithFail2banInEveryMode reads it.
	Fail2banModeDifferences []Fail2banDifference `yaml:"fail2ban_mode_differences"`
}

// Fail2banDifference is one deliberate disagreement with fail2ban's filter
// on lines of fail2ban's installed sample log.
type Fail2banDifference struct {
	// Sample is fail2ban's sample file the lines are in (default: the
	// counterpart's own, e.g. "sshd"; "sshd-journal" for the one it adds).
	Sample string `yaml:"sample"`
	// Lines are 1-based line numbers in Sample.
	Lines []int `yaml:"lines"`
	// Modes the difference occurs in (default: every mode the line is
	// compared in).
	Modes []string `yaml:"modes"`
	// Kind: "counts" (logjail counts a line fail2ban does not), "misses"
	// (fail2ban counts a line logjail does not), "address" (both count,
	// other addresses), or "mode" (the filter does not offer this fail2ban
	// mode: Modes names it, Lines is empty).
	Kind   string `yaml:"kind"`
	Reason string `yaml:"reason"`
}
