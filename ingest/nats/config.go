package nats

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	natsgo "github.com/nats-io/nats.go"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/ingest/keyerr"
)

// Config configures a Source. Error messages name the fields by their YAML
// keys (url, subject, queue, creds, nkey, user, password, token, tls.ca,
// tls.cert, tls.key, jetstream.stream, jetstream.durable).
type Config struct {
	// URL is nats://HOST[:PORT] or tls://HOST[:PORT]; several servers of a
	// cluster may be given separated by commas. Credentials do not belong
	// in the URL (they would show in status output): use the fields below.
	URL string
	// Subject is what is subscribed to; wildcards (* and >) are allowed.
	// Required without JetStream; with JetStream it filters the consumer,
	// and empty means every subject of the stream.
	Subject string
	// Queue, when set, joins a queue group: each message goes to one member
	// of the group. Core subscriptions only (with JetStream, instances that
	// share a durable share its messages).
	Queue string

	// At most one authentication method: Creds (a .creds file, JWT and
	// NKey seed), NKeyFile (a file holding an NKey user seed), User and
	// Password, or Token.
	Creds    string
	NKeyFile string
	User     string
	Password string
	Token    string

	// TLS towards the server. Any file set here turns TLS on, also for a
	// nats:// URL.
	TLS TLSConfig

	// JetStream, when set, consumes a stream through a durable pull
	// consumer instead of subscribing to the subject: nothing is lost while
	// logjail is stopped or busy, and a message is acknowledged only once
	// its effects are committed.
	JetStream *JetStreamConfig

	// Decode, when set, turns each message into an entry instead of the
	// raw-line or envelope forms (fleet mode's shared failures). It returns
	// Skip for a message that is not for this logjail (acknowledged, not
	// counted) and Bad for one that is malformed (counted and skipped).
	Decode func(header map[string][]string, data []byte, now time.Time) (ingest.Entry, Verdict)
}

// Verdict is what a Decode hook makes of a message.
type Verdict int

// Verdicts of a Decode hook.
const (
	Deliver Verdict = iota
	Skip
	Bad
)

// TLSConfig holds the PEM files for TLS towards the server.
type TLSConfig struct {
	CAFile   string // CA bundle to verify the server; default: the system roots
	CertFile string // client certificate, for servers that verify clients
	KeyFile  string // its key
}

// JetStreamConfig names the stream and the durable consumer.
type JetStreamConfig struct {
	// Stream must exist: logjail does not create streams (their limits,
	// retention and replicas are the operator's decision).
	Stream string
	// Durable is the durable pull consumer's name; it is created on the
	// stream when missing and its ack settings are updated when present.
	Durable string
}

// prepared is what New derives from a Config.
type prepared struct {
	servers string // for natsgo.Connect
	opts    []natsgo.Option
	desc    string
}

func prepare(cfg *Config) (*prepared, error) {
	p := &prepared{}
	servers, err := checkURLs(cfg.URL)
	// Every bad key is reported, not only the first.
	errs := append([]error{err}, checkSubscription(cfg)...)
	p.opts, err = securityOptions(cfg)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p.servers = servers

	var b strings.Builder
	b.WriteString("nats ")
	b.WriteString(servers)
	b.WriteByte(' ')
	if cfg.Subject != "" {
		b.WriteString(cfg.Subject)
	} else {
		b.WriteString("(all subjects)")
	}
	var extra []string
	if cfg.Queue != "" {
		extra = append(extra, "queue "+cfg.Queue)
	}
	if js := cfg.JetStream; js != nil {
		extra = append(extra, "jetstream "+js.Stream+"/"+js.Durable)
	}
	if len(extra) > 0 {
		b.WriteString(" (" + strings.Join(extra, ", ") + ")")
	}
	p.desc = b.String()
	return p, nil
}

// ConnectOptions checks the connection part of cfg (url, authentication,
// tls; subject and jetstream are not looked at) and returns the server list
// and options for natsgo.Connect. The other users of NATS (ban events,
// fleet mode) connect with it, so every nats block of the configuration
// means the same.
// Every bad key is reported, not only the first.
func ConnectOptions(cfg Config) (servers string, opts []natsgo.Option, err error) {
	servers, urlErr := checkURLs(cfg.URL)
	opts, err = securityOptions(&cfg)
	if err := errors.Join(urlErr, err); err != nil {
		return "", nil, err
	}
	return servers, opts, nil
}

// securityOptions checks authentication and tls, each on its own, so an
// error in one does not hide one in the other.
func securityOptions(cfg *Config) ([]natsgo.Option, error) {
	var opts []natsgo.Option
	auth, authErr := authOption(cfg)
	tlsConf, tlsErr := tlsConfig(cfg.TLS)
	if err := errors.Join(authErr, tlsErr); err != nil {
		return nil, err
	}
	if auth != nil {
		opts = append(opts, auth)
	}
	if tlsConf != nil {
		opts = append(opts, natsgo.Secure(tlsConf))
	}
	return opts, nil
}

// CheckSubject reports whether s can be published to or subscribed to.
func CheckSubject(s string) error { return checkSubject(s) }

// CheckName reports whether s is a valid stream or consumer name.
func CheckName(s string) error { return checkName(s, true) }

// checkURLs validates a comma-separated server list and returns it
// normalised (spaces removed).
func checkURLs(list string) (string, error) {
	if strings.TrimSpace(list) == "" {
		return "", keyerr.Wrap("url", errors.New("nats: url: missing"))
	}
	var out []string
	for raw := range strings.SplitSeq(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			return "", keyerr.Wrap("url", fmt.Errorf("nats: url: %q: empty server in list", list))
		}
		u, err := url.Parse(raw)
		if err != nil {
			// url.Parse errors quote the URL, which may hold a password.
			return "", keyerr.Wrap("url", fmt.Errorf("nats: url: cannot parse %q", redact(raw)))
		}
		switch u.Scheme {
		case "nats", "tls":
		case "":
			return "", keyerr.Wrap("url", fmt.Errorf("nats: url: %q: no scheme (want nats://HOST:PORT or tls://HOST:PORT)", redact(raw)))
		default:
			return "", keyerr.Wrap("url", fmt.Errorf("nats: url: %q: scheme %q not supported (want nats or tls)", redact(raw), u.Scheme))
		}
		if u.User != nil {
			return "", keyerr.Wrap("url", fmt.Errorf("nats: url: %q: credentials in the URL are not accepted (they would show in status output); use user/password, token, nkey or creds", redact(raw)))
		}
		if u.Hostname() == "" {
			return "", keyerr.Wrap("url", fmt.Errorf("nats: url: %q: no host", raw))
		}
		if port := u.Port(); port != "" {
			if _, err := net.LookupPort("tcp", port); err != nil {
				return "", keyerr.Wrap("url", fmt.Errorf("nats: url: %q: bad port", raw))
			}
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return "", keyerr.Wrap("url", fmt.Errorf("nats: url: %q: unexpected path or query", raw))
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return strings.Join(out, ","), nil
}

// redact hides the user-info part of something that looks like a URL.
func redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	host := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host = rest[:i]
	}
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		return scheme + "://REDACTED@" + rest[at+1:]
	}
	return raw
}

// checkSubject applies NATS subject syntax: dot-separated non-empty tokens
// without white space; * stands for one whole token, > for one or more
// trailing tokens and only as the last.
func checkSubject(s string) error {
	if strings.IndexFunc(s, badSubjectRune) >= 0 {
		return errors.New("contains white space or control characters")
	}
	tokens := strings.Split(s, ".")
	for i, t := range tokens {
		switch {
		case t == "":
			return errors.New("empty token (leading, trailing or double dot)")
		case t == ">" && i != len(tokens)-1:
			return errors.New("'>' must be the last token")
		case len(t) > 1 && strings.ContainsAny(t, "*>"):
			return errors.New("wildcards '*' and '>' must be whole tokens")
		}
	}
	return nil
}

func badSubjectRune(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// checkName validates a queue group (strict=false) or a stream or consumer
// name (strict=true: no dots, wildcards or path separators either).
func checkName(s string, strict bool) error {
	if strings.IndexFunc(s, badSubjectRune) >= 0 {
		return errors.New("contains white space or control characters")
	}
	if strict {
		if strings.ContainsAny(s, ".*>/\\") {
			return errors.New("must not contain '.', '*', '>', '/' or '\\'")
		}
		if len(s) > 255 {
			return errors.New("longer than 255 bytes")
		}
	}
	return nil
}

// checkSubscription checks the subject, queue and jetstream keys, one
// error for each bad key.
func checkSubscription(cfg *Config) []error {
	var errs []error
	switch {
	case cfg.Subject == "" && cfg.JetStream == nil:
		errs = append(errs, keyerr.Wrap("subject", errors.New("nats: subject: missing")))
	case cfg.Subject != "":
		if err := checkSubject(cfg.Subject); err != nil {
			errs = append(errs, keyerr.Wrap("subject", fmt.Errorf("nats: subject: %q: %w", cfg.Subject, err)))
		}
	}
	if cfg.Queue != "" {
		if cfg.JetStream != nil {
			errs = append(errs, keyerr.Wrap("queue", errors.New("nats: queue: not used with jetstream (sources that share a durable share its messages)")))
		} else if err := checkName(cfg.Queue, false); err != nil {
			errs = append(errs, keyerr.Wrap("queue", fmt.Errorf("nats: queue: %q: %w", cfg.Queue, err)))
		}
	}
	if js := cfg.JetStream; js != nil {
		for _, n := range []struct{ key, name string }{{"stream", js.Stream}, {"durable", js.Durable}} {
			if n.name == "" {
				errs = append(errs, keyerr.Wrap("jetstream."+n.key, fmt.Errorf("nats: jetstream.%s: missing", n.key)))
			} else if err := checkName(n.name, true); err != nil {
				errs = append(errs, keyerr.Wrap("jetstream."+n.key, fmt.Errorf("nats: jetstream.%s: %q: %w", n.key, n.name, err)))
			}
		}
	}
	return errs
}

func authOption(cfg *Config) (natsgo.Option, error) {
	var methods []string
	if cfg.Creds != "" {
		methods = append(methods, "creds")
	}
	if cfg.NKeyFile != "" {
		methods = append(methods, "nkey")
	}
	if cfg.User != "" || cfg.Password != "" {
		methods = append(methods, "user/password")
	}
	if cfg.Token != "" {
		methods = append(methods, "token")
	}
	if len(methods) > 1 {
		return nil, fmt.Errorf("nats: %s: give one authentication method, not %s", strings.Join(methods, ", "), strings.Join(methods, " and "))
	}
	switch {
	case cfg.Creds != "":
		if err := readable(cfg.Creds); err != nil {
			return nil, keyerr.Wrap("creds", fmt.Errorf("nats: creds: %w", err))
		}
		// Read at every (re)connect, so a rotated file is picked up.
		return natsgo.UserCredentials(cfg.Creds), nil
	case cfg.NKeyFile != "":
		opt, err := natsgo.NkeyOptionFromSeed(cfg.NKeyFile)
		if err != nil {
			return nil, keyerr.Wrap("nkey", fmt.Errorf("nats: nkey: %s: %w", cfg.NKeyFile, err))
		}
		return opt, nil
	case cfg.User != "" || cfg.Password != "":
		if cfg.User == "" {
			return nil, keyerr.Wrap("user", errors.New("nats: user: missing (password is set)"))
		}
		if cfg.Password == "" {
			return nil, keyerr.Wrap("password", errors.New("nats: password: missing (user is set)"))
		}
		return natsgo.UserInfo(cfg.User, cfg.Password), nil
	case cfg.Token != "":
		return natsgo.Token(cfg.Token), nil
	}
	return nil, nil
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	return nil
}

// tlsConfig loads the TLS files now, so that a bad file is an error at
// configuration time rather than an endless reconnect loop.
func tlsConfig(t TLSConfig) (*tls.Config, error) {
	if t == (TLSConfig{}) {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	var caErr error
	if t.CAFile != "" {
		c.RootCAs, caErr = caPool(t.CAFile)
	}
	var certErr error
	switch {
	case t.CertFile == "" && t.KeyFile != "":
		certErr = keyerr.Wrap("tls.cert", errors.New("nats: tls.cert: missing (tls.key is set)"))
	case t.CertFile != "" && t.KeyFile == "":
		certErr = keyerr.Wrap("tls.key", errors.New("nats: tls.key: missing (tls.cert is set)"))
	case t.CertFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			certErr = fmt.Errorf("nats: tls.cert/tls.key: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	if err := errors.Join(caErr, certErr); err != nil {
		return nil, err
	}
	return c, nil
}

// caPool reads tls.ca.
func caPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, keyerr.Wrap("tls.ca", fmt.Errorf("nats: tls.ca: %w", err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, keyerr.Wrap("tls.ca", fmt.Errorf("nats: tls.ca: %s: no PEM certificates", file))
	}
	return pool, nil
}
