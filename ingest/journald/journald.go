// Package journald reads the systemd journal for logjail, with cursors, so
// that a restart neither loses nor repeats an entry.
//
// Entries are laid out as the line a syslog daemon would have written,
// without its date ("HOST IDENT[PID]: MESSAGE"), so the filters written for
// log files serve the journal too. The journal is read through
// github.com/coreos/go-systemd/v22/sdjournal, which needs cgo and loads
// libsystemd at run time; without either, New returns an error wrapping
// ErrUnavailable and the rest of logjail works on.
//
// Journal fields are written by the logged programs, some of them driven by
// attackers, so every field is bounded (package journalfields): messages
// over 64 KiB are skipped and counted, other fields over 4 KiB are left out
// of Entry.Fields, and bytes that are not UTF-8 are replaced.
package journald

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/ingest/journalfields"
)

const (
	// MaxMessage is the longest MESSAGE delivered, in bytes; longer
	// entries are skipped and counted in Stats.Skipped.
	MaxMessage = journalfields.MaxMessage
	// MaxField is the longest value copied into Entry.Fields; longer
	// fields (core dumps, binary blobs) are left out.
	MaxField = journalfields.MaxField

	// waitTimeout bounds one wait for journal changes: how long a
	// cancellation may go unnoticed while the journal is quiet.
	waitTimeout = 250 * time.Millisecond
	// defaultRetry is the pause before the journal is opened again after
	// it could not be opened or read.
	defaultRetry = 5 * time.Second
	// defaultNSRecheck is how often a namespace's journal directory is looked up
	// again, to follow it from /run/log/journal to /var/log/journal.
	defaultNSRecheck = 10 * time.Second
)

// ErrUnavailable is wrapped by the error New returns when this build or
// this host cannot read the journal: logjail built without cgo, or
// libsystemd not installed.
var ErrUnavailable = errors.New("journald is unavailable")

// ErrNoJournal is wrapped by the errors that say the configured journal
// does not exist on this host: no journal files in its directories, a
// directory or file that is not there, a namespace journald never started.
// The source is then unavailable (see ingest.StateUnavailable); it keeps
// looking, and reads a journal that appears from its start.
var ErrNoJournal = errors.New("no journal")

// Config configures a Journal. Namespace, Directory and Files are mutually
// exclusive; with none of them the local system journal is read (the
// default namespace, as journalctl does).
type Config struct {
	// Match holds journalctl-style matches: "FIELD=value" terms, and "+"
	// between groups. Terms within a group must all match, except that
	// terms on the same field are alternatives; a "+" means OR between
	// the groups around it. Empty matches every entry.
	Match []string
	// Namespace is a journal namespace (a unit's LogNamespace=). It is read
	// from its directory, /var/log/journal/MACHINE-ID.NAMESPACE, or
	// /run/log/journal/MACHINE-ID.NAMESPACE when there is no persistent one.
	Namespace string
	// Files are journal files to read (fail2ban's journalfiles=).
	Files []string
	// Directory is a journal directory to read (journalctl --directory).
	Directory string
}

// Journal reads the systemd journal. It implements ingest.Source.
type Journal struct {
	cfg     Config
	key     string // Position.Key of every entry
	desc    string
	pos     ingest.Positions
	log     *slog.Logger
	running atomic.Bool

	read, skipped, errs atomic.Uint64
	health              ingest.Health

	// Test hooks, set before Run: retry is the pause before reopening
	// (default defaultRetry); nsRecheck how often a namespace directory is
	// looked up again (default defaultNSRecheck); startAtHead reads from the
	// oldest entry when no position is stored; onReady is called on the
	// Run goroutine each time the journal is open and positioned.
	retry       time.Duration
	nsRecheck   time.Duration
	startAtHead bool
	onReady     func()
}

var _ ingest.Source = (*Journal)(nil)

// New checks cfg and returns a Journal. pos may be nil (no stored
// positions); log may be nil (discard). An error wrapping ErrUnavailable
// means this build or host cannot read the journal at all.
func New(cfg Config, pos ingest.Positions, log *slog.Logger) (*Journal, error) {
	set := 0
	for _, on := range []bool{cfg.Namespace != "", cfg.Directory != "", len(cfg.Files) > 0} {
		if on {
			set++
		}
	}
	if set > 1 {
		return nil, errors.New("journald: namespace, directory and files exclude each other; set one at most")
	}
	if err := checkMatch(cfg.Match); err != nil {
		return nil, err
	}
	cfg.Match = slices.Clone(cfg.Match)
	if cfg.Namespace != "" {
		if err := checkNamespace(cfg.Namespace); err != nil {
			return nil, err
		}
	}
	if cfg.Directory != "" {
		abs, err := filepath.Abs(cfg.Directory)
		if err != nil {
			return nil, fmt.Errorf("journald: directory %s: %w", cfg.Directory, err)
		}
		cfg.Directory = abs
	}
	var files []string
	for _, f := range cfg.Files {
		if f == "" {
			return nil, errors.New("journald: empty file name")
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, fmt.Errorf("journald: file %s: %w", f, err)
		}
		if !slices.Contains(files, abs) {
			files = append(files, abs)
		}
	}
	slices.Sort(files)
	cfg.Files = files

	if err := available(); err != nil {
		return nil, err
	}
	j := &Journal{cfg: cfg, pos: pos, log: log, retry: defaultRetry, nsRecheck: defaultNSRecheck}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	parts := j.describeParts()
	j.key = "journald:" + strings.Join(parts, " ")
	j.desc = strings.Join(append([]string{"journald"}, parts...), " ")
	return j, nil
}

// describeParts names the journal and the match, quoting what could be
// misread, so that Describe and the position key are unambiguous.
func (j *Journal) describeParts() []string {
	var parts []string
	switch {
	case j.cfg.Namespace != "":
		parts = append(parts, "namespace="+j.cfg.Namespace)
	case j.cfg.Directory != "":
		parts = append(parts, "directory="+quote(j.cfg.Directory, " "))
	case len(j.cfg.Files) > 0:
		fs := make([]string, len(j.cfg.Files))
		for i, f := range j.cfg.Files {
			fs[i] = quote(f, " ,")
		}
		parts = append(parts, "files="+strings.Join(fs, ","))
	}
	for _, t := range j.cfg.Match {
		parts = append(parts, quote(t, " "))
	}
	return parts
}

// quote returns s, or s Go-quoted when it holds one of special or anything
// unprintable.
func quote(s, special string) string {
	if strings.ContainsAny(s, special+`"`) || strings.IndexFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// Describe says what is read, for status output, e.g.
// "journald _SYSTEMD_UNIT=ssh.service + _SYSTEMD_UNIT=sshd.service".
func (j *Journal) Describe() string { return j.desc }

// Key is the Position.Key of the entries this Journal delivers: derived
// from the configuration (journal and match), so a restart with the same
// configuration resumes where it stopped, and a changed one starts afresh.
func (j *Journal) Key() string { return j.key }

// Stats returns the counters; safe to call from any goroutine.
func (j *Journal) Stats() ingest.Stats {
	st := ingest.Stats{Read: j.read.Load(), Skipped: j.skipped.Load(), Errors: j.errs.Load()}
	j.health.Fill(&st)
	return st
}

// Probe opens the journal cfg names and closes it again, for `logjail
// validate`: nil when it has journal files; else an error wrapping
// ErrUnavailable (this build or host cannot read journals), ErrNoJournal
// (no journal files there) or saying why it cannot be opened.
func Probe(cfg Config) error {
	j, err := New(cfg, nil, nil)
	if err != nil {
		return err
	}
	return j.probe()
}

// absent reports, wrapping ErrNoJournal, a configured journal directory or
// file that does not exist.
func (j *Journal) absent() error {
	paths := j.cfg.Files
	if j.cfg.Directory != "" {
		paths = []string{j.cfg.Directory}
	}
	for _, p := range paths {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s does not exist", ErrNoJournal, p)
		}
	}
	return nil
}

// noFiles is the error of an opened journal without journal files.
func (j *Journal) noFiles(dir string) error {
	switch {
	case dir != "":
		return fmt.Errorf("%w files in %s", ErrNoJournal, dir)
	case j.cfg.Directory != "":
		return fmt.Errorf("%w files in %s", ErrNoJournal, j.cfg.Directory)
	case len(j.cfg.Files) > 0:
		return fmt.Errorf("%w in %s", ErrNoJournal, strings.Join(j.cfg.Files, ", "))
	}
	return fmt.Errorf("%w files in %s (is systemd-journald running and keeping logs?)", ErrNoJournal, strings.Join(journalRoots, " or "))
}

// checkMatch validates journalctl-style match terms the way
// sd_journal_add_match does, naming the offending term.
func checkMatch(terms []string) error {
	for i, t := range terms {
		if t == "+" {
			switch {
			case i == 0:
				return errors.New(`journald: match: "+" at the start; it separates two groups of FIELD=value terms`)
			case i == len(terms)-1:
				return errors.New(`journald: match: "+" at the end; it separates two groups of FIELD=value terms`)
			case terms[i-1] == "+":
				return errors.New(`journald: match: "+" twice in a row; it separates two groups of FIELD=value terms`)
			}
			continue
		}
		field, _, ok := strings.Cut(t, "=")
		switch {
		case !ok:
			return fmt.Errorf("journald: match term %q: want FIELD=value (or \"+\" between groups)", t)
		case field == "":
			return fmt.Errorf("journald: match term %q: empty field name", t)
		case strings.HasPrefix(field, "__"):
			return fmt.Errorf("journald: match term %q: %s is an address field, which cannot be matched", t, field)
		}
		for _, c := range []byte(field) {
			if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
				return fmt.Errorf("journald: match term %q: field name %q may only hold A-Z, 0-9 and _", t, field)
			}
		}
	}
	return nil
}

// checkNamespace accepts what journald accepts as a namespace name
// (log_namespace_name_valid: a unit instance name usable in a file name).
func checkNamespace(ns string) error {
	if ns == "*" || strings.HasPrefix(ns, "+") {
		return fmt.Errorf("journald: namespace %q: journalctl's \"*\" and \"+NAME\" forms are not supported; name one namespace", ns)
	}
	if ns == "." || ns == ".." || len(ns) > 222 {
		return fmt.Errorf("journald: namespace %q: not a valid namespace name", ns)
	}
	for _, c := range []byte(ns) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(`_.:-\`, c) >= 0) {
			return fmt.Errorf("journald: namespace %q: may only hold letters, digits and _ . : - \\", ns)
		}
	}
	return nil
}

// Where namespace journals live; variables for tests.
var (
	machineIDFile = "/etc/machine-id"
	journalRoots  = []string{"/var/log/journal", "/run/log/journal"} // persistent first
)

// namespaceDir finds the directory journald keeps namespace ns in: the
// persistent one if it exists, else the volatile one.
func namespaceDir(ns string) (string, error) {
	b, err := os.ReadFile(machineIDFile)
	if err != nil {
		return "", fmt.Errorf("namespace %s: reading the machine ID: %w", ns, err)
	}
	id := strings.TrimSpace(string(b))
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", fmt.Errorf("namespace %s: %s does not hold a machine ID", ns, machineIDFile)
	}
	var tried []string
	for _, root := range journalRoots {
		d := filepath.Join(root, id+"."+ns)
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d, nil
		}
		tried = append(tried, d)
	}
	return "", fmt.Errorf("namespace %s: %w yet (none of %s exists; is systemd-journald@%s running?)",
		ns, ErrNoJournal, strings.Join(tried, ", "), ns)
}

// makeEntry builds the Entry for one journal entry from its fields (which
// it takes over), its realtime timestamp and cursor. It reports false when
// the message is too long to deliver.
func makeEntry(fields map[string]string, realtime uint64, cursor, key string, now time.Time) (ingest.Entry, bool) {
	e, ok := journalfields.Entry(fields, time.UnixMicro(int64(realtime)), now)
	if ok {
		e.Pos = ingest.Position{Key: key, Value: []byte(cursor)}
	}
	return e, ok
}

// sameEntry reports whether two cursors name the same entry by boot ID,
// monotonic and realtime timestamps: true also for a copy of the entry in
// another file (a flushed or exported journal), whose sequence numbers
// differ.
func sameEntry(a, b string) bool {
	pa, pb := cursorParts(a), cursorParts(b)
	for _, k := range []string{"b", "m", "t"} {
		if pa[k] == "" || pa[k] != pb[k] {
			return false
		}
	}
	return true
}

func cursorParts(c string) map[string]string {
	m := make(map[string]string, 6)
	for part := range strings.SplitSeq(c, ";") {
		if k, v, ok := strings.Cut(part, "="); ok {
			m[k] = v
		}
	}
	return m
}
