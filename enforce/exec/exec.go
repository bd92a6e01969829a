// Package exec enforces decisions by running commands: argv templates for
// ban, unban, start and stop (ufw, firewalld, ipset, an HTTP API through
// curl), without a shell unless asked for.
package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	osexec "os/exec"
	"strings"
	"text/template"
	"time"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/ingest/keyerr"
	"github.com/logjail/logjail/state"
)

// Config is one exec enforcer.
type Config struct {
	// Ban, Unban, Start and Stop are argv templates (text/template, fields
	// of Vars); Start and Stop run when logjail starts and stops.
	Ban, Unban, Start, Stop []string
	// Shell runs each command as one /bin/sh -c script (its argv joined by
	// spaces); the values are shell-quoted, and the address is always one
	// logjail parsed, so a log line can never inject shell syntax.
	Shell bool
	// Timeout bounds one run (default 10s); Retries more attempts follow
	// a failure (default 2), one second apart.
	Timeout time.Duration
	Retries int
	// Pipeline is the pipeline the action serves: {{.Pipeline}} of the
	// start and stop commands.
	Pipeline string
}

// Vars are the fields a template can use: {{.Addr}} {{.Prefix}}
// {{.Pipeline}} {{.Bantime}} {{.Until}} {{.Failures}}.
type Vars struct {
	Addr     string // the address, or the prefix's first address
	Prefix   string // the prefix, "203.0.113.7/32" or "2001:db8::/64"
	Pipeline string
	Bantime  int64  // seconds; -1 for a permanent ban
	Until    string // RFC 3339, "" for a permanent ban
	Failures int
}

// Exec runs commands for one pipeline's decisions. It is no
// enforce.Repairer: its commands run once per decision (and again at a
// start), never because a watch compared states.
type Exec struct {
	cfg                   Config
	ban, unban, start, st []*template.Template
	log                   *slog.Logger
	sleep                 func(time.Duration)
}

var _ enforce.Enforcer = (*Exec)(nil)

// Validate checks cfg without building anything: the templates compile and
// name known fields, the ban program exists. An error names the command
// and argument and carries the YAML key (keyerr); every bad key is
// reported (errors.Join), not only the first.
func Validate(cfg Config) error {
	_, err := templates(cfg)
	return err
}

// New compiles the templates; its errors are Validate's.
func New(cfg Config, log *slog.Logger) (*Exec, error) {
	t, err := templates(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Exec{cfg: cfg, ban: t[0], unban: t[1], start: t[2], st: t[3], log: log, sleep: time.Sleep}, nil
}

// templates compiles ban, unban, start and stop, in that order.
func templates(cfg Config) ([4][]*template.Template, error) {
	var out [4][]*template.Template
	var errs []error
	if len(cfg.Ban) == 0 {
		errs = append(errs, keyerr.Wrap("ban", errors.New("exec: ban: no command")))
	}
	if cfg.Retries < 0 {
		errs = append(errs, keyerr.Wrap("retries", errors.New("exec: retries: negative")))
	}
	for i, c := range []struct {
		name string
		argv []string
	}{{"ban", cfg.Ban}, {"unban", cfg.Unban}, {"start", cfg.Start}, {"stop", cfg.Stop}} {
		var err error
		if out[i], err = compile(c.name, c.argv); err != nil {
			errs = append(errs, err)
		}
	}
	if !cfg.Shell && len(out[0]) > 0 {
		if _, err := osexec.LookPath(cfg.Ban[0]); err != nil {
			errs = append(errs, keyerr.Wrap("ban", fmt.Errorf("exec: ban: %w", err)))
		}
	}
	return out, errors.Join(errs...)
}

func compile(name string, argv []string) ([]*template.Template, error) {
	var out []*template.Template
	for i, a := range argv {
		t, err := template.New(name).Option("missingkey=error").Parse(a)
		if err != nil {
			return nil, keyerr.Wrap(name, fmt.Errorf("exec: %s[%d]: %w", name, i, err))
		}
		// Render once with sample values so an unknown field fails now.
		if err := t.Execute(&bytes.Buffer{}, Vars{}); err != nil {
			return nil, keyerr.Wrap(name, fmt.Errorf("exec: %s[%d]: %w", name, i, err))
		}
		out = append(out, t)
	}
	return out, nil
}

// VarsOf are a decision's template values.
func VarsOf(d state.Decision) Vars {
	v := Vars{Addr: d.Prefix.Addr().String(), Prefix: d.Prefix.String(), Pipeline: d.Pipeline, Bantime: -1, Failures: d.Failures}
	if !d.Permanent() {
		v.Until = d.Until.UTC().Format(time.RFC3339)
		v.Bantime = int64(d.Until.Sub(d.Time).Round(time.Second) / time.Second)
	}
	return v
}

// Ban runs the ban command.
func (e *Exec) Ban(ctx context.Context, d state.Decision) error {
	return e.run(ctx, "ban", e.ban, VarsOf(d))
}

// Unban runs the unban command (none configured: nothing to do).
func (e *Exec) Unban(ctx context.Context, d state.Decision) error {
	return e.run(ctx, "unban", e.unban, VarsOf(d))
}

// Apply runs the ban or unban command of each decision.
func (e *Exec) Apply(ctx context.Context, ds []state.Decision) error {
	return enforce.OneByOne(ctx, ds, e.Ban, e.Unban)
}

// Start runs the start command, then bans the active bans again, as
// fail2ban re-bans the tickets it restores: the external system may have
// lost them. It runs once per pipeline start or reload, never for a repair.
// A failed start command is logged, not returned: the bans are what the
// pipeline counts as enforced or not.
func (e *Exec) Start(ctx context.Context, active []state.Decision, _ time.Time) error {
	if err := e.run(ctx, "start", e.start, Vars{Pipeline: e.cfg.Pipeline}); err != nil {
		e.log.Error("exec action start", "pipeline", e.cfg.Pipeline, "err", err)
	}
	var errs []error
	for _, d := range active {
		errs = append(errs, e.Ban(ctx, d))
	}
	return errors.Join(errs...)
}

// Stop runs the stop command; its failure is logged by run.
func (e *Exec) Stop() {
	_ = e.run(context.Background(), "stop", e.st, Vars{Pipeline: e.cfg.Pipeline})
}

// run renders and runs a command, with retries; its exit status and
// output are logged.
func (e *Exec) run(ctx context.Context, what string, tmpl []*template.Template, v Vars) error {
	if len(tmpl) == 0 {
		return nil
	}
	if e.cfg.Shell {
		// The values reach the shell quoted.
		v = Vars{Addr: shellQuote(v.Addr), Prefix: shellQuote(v.Prefix), Pipeline: shellQuote(v.Pipeline), Bantime: v.Bantime, Until: shellQuote(v.Until), Failures: v.Failures}
	}
	argv := make([]string, len(tmpl))
	for i, t := range tmpl {
		var b strings.Builder
		if err := t.Execute(&b, v); err != nil {
			return fmt.Errorf("exec: %s: %w", what, err)
		}
		argv[i] = b.String()
	}
	if e.cfg.Shell {
		argv = []string{"/bin/sh", "-c", strings.Join(argv, " ")}
	}
	var err error
	for attempt := 0; attempt <= e.cfg.Retries; attempt++ {
		if attempt > 0 {
			e.sleep(time.Second)
		}
		rctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		cmd := osexec.CommandContext(rctx, argv[0], argv[1:]...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err = cmd.Run()
		timedOut := errors.Is(rctx.Err(), context.DeadlineExceeded)
		cancel()
		text := strings.TrimSpace(out.String())
		if len(text) > 2000 {
			text = text[:2000] + "…"
		}
		if err == nil {
			e.log.Debug("exec: done", "action", what, "pipeline", v.Pipeline, "output", text)
			return nil
		}
		if timedOut {
			err = fmt.Errorf("timed out after %s", e.cfg.Timeout)
		}
		e.log.Warn("exec: failed", "action", what, "pipeline", v.Pipeline, "attempt", attempt+1, "err", err, "output", text)
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("exec: %s %s: %w", what, strings.Join(argv, " "), err)
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
