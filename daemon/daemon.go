// Package daemon wires the stages into a running logjail: one goroutine per
// pipeline, the shared firewall, the state store, and the control API on a
// unix socket (server and client).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/logjail/logjail/enforce"
	enfnats "github.com/logjail/logjail/enforce/nats"
	"github.com/logjail/logjail/enforce/nftables"
	"github.com/logjail/logjail/ingest/bans"
	"github.com/logjail/logjail/ingest/file"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
)

// Defaults of the command line.
const (
	DefaultStateDir = "/var/lib/logjail"
	DefaultSocket   = "/run/logjail/logjail.sock"
)

// Options configure Run.
type Options struct {
	Config *pipelines.Config
	// ConfigPath is read again by a reload.
	ConfigPath string
	// Metrics is the address of the Prometheus endpoint ("" for none).
	Metrics string
	// Ready, when set, is called once the pipelines run and the control
	// socket answers (sd_notify READY under systemd).
	Ready func()
	// Reload, when it receives, reloads the configuration (SIGHUP).
	Reload   <-chan struct{}
	StateDir string
	Socket   string
	DryRun   bool
	Log      *slog.Logger
}

// Daemon is a running logjail.
type Daemon struct {
	opts  Options
	store *state.Store
	log   *slog.Logger
	enf   enforce.Enforcer // the firewall (locked) or the dry run
	table string           // the nftables table, fixed for the process

	// mu guards the pipeline table; a reload swaps runners under it.
	mu      sync.RWMutex
	runners map[string]*runner
	order   []string
	failed  map[string]string // pipelines that could not start, with why
	// reloadMu serialises reloads.
	reloadMu sync.Mutex
	// runCtx is the parent of every runner's context.
	runCtx context.Context
	// firewall watches the nftables layout; nil in a dry run.
	firewall *firewallWatch
	// bus carries every pipeline's bans to the bans sources (recidive).
	bus *bans.Bus
	// fleet is this node's fleet membership; nil without one.
	fleet *fleet
	// fleetStop stops the fleet's publisher and bans watch (once); it runs
	// after the runners' last commit, so their last messages are sent.
	fleetStop func()
	// fleetMu guards fleetPending: decisions from the fleet for pipelines
	// not running yet.
	fleetMu      sync.Mutex
	fleetPending []enfnats.Event
	// mailers are the running mail enforcers (see mailerKey).
	mailersMu sync.Mutex
	mailers   map[mailerKey]*sharedMailer
	// stops run a pipeline's exec stop commands (at shutdown, or before
	// a reload starts them again); guarded by mu.
	stops map[string]func()
	// files is the descriptor budget the file sources share.
	files *file.Budget
	// host follows this host's addresses (ignoreself); servers are the
	// NATS servers' addresses, resolved at start and on reload. The
	// pipelines' gates never ban either.
	host    *gate.Host
	servers *gate.Set
}

// Run starts every enabled pipeline and serves the control socket until ctx
// is done. Bans stay in the firewall when it returns.
func Run(ctx context.Context, opts Options) error {
	log := opts.Log
	enabled := opts.Config.Enabled()
	if len(enabled) == 0 {
		return errors.New("no enabled pipeline in the configuration")
	}
	// A dry run keeps its bans and positions apart, so that trying a
	// configuration never leaves bans that a real run would enforce.
	stateDir := opts.StateDir
	if opts.DryRun {
		stateDir = filepath.Join(stateDir, "dry-run")
	}
	// The store opens before anything touches the firewall: a damaged
	// store stops logjail here, with the kernel's bans as they are
	// (reconciling with an empty store would remove them all).
	store, err := state.OpenStore(stateDir)
	if err != nil {
		return err
	}
	defer store.Close()
	store.SetLog(log)

	host, err := gate.WatchHost(func(err error) {
		log.Error("following the host's addresses (ignoreself keeps the last ones read)", "err", err)
	})
	if err != nil {
		return err
	}
	defer host.Close()
	d := &Daemon{opts: opts, store: store, runners: map[string]*runner{}, failed: map[string]string{}, log: log, table: tableOf(enabled), bus: bans.NewBus(), stops: map[string]func(){}, mailers: map[mailerKey]*sharedMailer{},
		host: host, servers: gate.NewSet(natsServers(opts.Config)...)}
	d.files = fileBudget(log)
	// The control socket comes before the firewall is touched: a second
	// logjail started by mistake must stop before it rewrites the first
	// one's table.
	srv, ln, err := d.listen()
	if err != nil {
		return err
	}
	defer os.Remove(opts.Socket)
	defer ln.Close()

	var enf enforce.Enforcer = enforce.DryRun{Log: log}
	if !opts.DryRun {
		table := d.table
		unlock, err := lockTable(log, filepath.Dir(opts.Socket), table)
		if err != nil {
			return err
		}
		defer unlock()
		fw, err := nftables.New(nftables.Options{Table: table})
		if err != nil {
			return err
		}
		defer fw.Close()
		if err := fw.Setup(ctx, firewallSpecs(enabled)); err != nil {
			if errors.Is(err, os.ErrPermission) {
				return fmt.Errorf("%w (logjail needs CAP_NET_ADMIN: run it as root or with that capability)", err)
			}
			return err
		}
		locked := &lockedEnforcer{e: fw}
		enf = locked
		d.firewall = &firewallWatch{fw: fw, lock: &locked.mu, specs: firewallSpecs(enabled)}
	}

	// The runners outlive ctx until the control server has shut down, so a
	// request in flight is answered rather than left waiting.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer d.stopAll() // before the store closes: runners commit on stop
	d.runCtx = runCtx
	d.enf = enf
	if opts.Config.Fleet != nil {
		if opts.DryRun {
			log.Info("dry run: fleet mode off (nothing is shared)")
		} else {
			if err := d.joinFleet(ctx); err != nil {
				return fmt.Errorf("fleet: %w", err)
			}
			defer d.fleetStop()
		}
	}
	for _, p := range enabled {
		if err := d.startPipeline(ctx, p, nil); err != nil {
			return err
		}
	}
	if len(d.order) == 0 {
		return errors.New("no pipeline could be started")
	}
	d.dropBansOfRemoved(enabled)
	var wg sync.WaitGroup
	// Ban history older than each pipeline's dbpurgeage is forgotten at
	// start and every hour, as fail2ban purges its database.
	d.purgeHistory()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				d.purgeHistory()
			}
		}
	}()
	if d.firewall != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.watchFirewall(runCtx)
		}()
	}
	metricsErr := make(chan error, 1)
	if opts.Metrics != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.serveMetrics(runCtx, opts.Metrics); err != nil {
				metricsErr <- err
			}
		}()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if opts.Ready != nil {
		opts.Ready()
	}
	log.Info("logjail running", "pipelines", d.pipelineNames(), "socket", opts.Socket, "state_dir", opts.StateDir, "dry_run", opts.DryRun)

wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case err = <-serveErr:
			err = fmt.Errorf("control socket: %w", err)
			break wait
		case err = <-metricsErr:
			break wait
		case <-opts.Reload:
			if names, err := d.reload(ctx); err != nil {
				log.Error("reload refused; the running configuration stays", "err", err)
			} else {
				log.Info("configuration reloaded", "pipelines", names)
			}
		}
	}
	shutCtx, shutCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer shutCancel()
	_ = srv.Shutdown(shutCtx)
	cancel()
	wg.Wait()
	d.stopAll()
	if d.fleet != nil {
		d.fleetStop()
	}
	for _, name := range slices.Sorted(maps.Keys(d.stops)) {
		d.stops[name]()
	}
	log.Info("logjail stopped")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// listen opens the control socket with mode 0600: whoever can talk to it can
// ban and unban.
func (d *Daemon) listen() (*http.Server, net.Listener, error) {
	path := d.opts.Socket
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("control socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, nil, fmt.Errorf("control socket %s: another logjail is running", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("control socket: %w", err)
	}
	return &http.Server{Handler: d.handler(), ReadHeaderTimeout: 5 * time.Second}, ln, nil
}

// keepBans puts a pipeline's unexpired stored bans into the enforcer without
// running the pipeline. They pass the pipeline's gate as restored bans do:
// one the gate refuses now (an address this host took since, an ignoreip
// added) is lifted.
func keepBans(ctx context.Context, store *state.Store, enf enforce.Enforcer, pipeline string, policy state.Policy, log *slog.Logger) error {
	bans, err := store.Bans(pipeline)
	if err != nil {
		return err
	}
	now := time.Now()
	tr := state.NewTracker(policy)
	for _, d := range tr.Restore(bans, now) {
		if why, ok := strings.CutPrefix(d.Reason, state.RefusedReason); ok {
			log.Warn("stored ban refused by the gate; lifted", "pipeline", pipeline, "addr", d.Prefix.String(), "reason", why)
			if err := store.DeleteBan(pipeline, d.Prefix); err != nil {
				return err
			}
		}
	}
	return enf.Reconcile(ctx, pipeline, tr.Active(), now)
}

func tableOf(ps []*pipelines.Pipeline) string {
	for _, p := range ps {
		for _, e := range p.Plan.Enforce {
			if e.NFTables != nil && e.NFTables.Table != "" {
				return e.NFTables.Table
			}
		}
	}
	return pipelines.DefaultTable
}

// firewallSpecs lists the pipelines that enforce with nftables.
func firewallSpecs(ps []*pipelines.Pipeline) []nftables.PipelineSpec {
	var out []nftables.PipelineSpec
	for _, p := range ps {
		for _, e := range p.Plan.Enforce {
			if n := e.NFTables; n != nil {
				out = append(out, nftables.PipelineSpec{
					Name:     p.Name,
					Ports:    n.Ports,
					Protocol: n.Protocol,
					Reject:   n.Action == "reject",
					Hooks:    n.Hooks,
				})
			}
		}
	}
	return out
}

// lockedEnforcer serialises the pipelines' use of the one shared netlink
// connection: a batch must not interleave with another pipeline's.
type lockedEnforcer struct {
	mu sync.Mutex
	e  enforce.Enforcer
}

func (l *lockedEnforcer) Ban(ctx context.Context, d state.Decision) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.e.Ban(ctx, d)
}

func (l *lockedEnforcer) Unban(ctx context.Context, d state.Decision) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.e.Unban(ctx, d)
}

func (l *lockedEnforcer) Apply(ctx context.Context, ds []state.Decision) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return enforce.ApplyAll(ctx, l.e, ds)
}

func (l *lockedEnforcer) Reconcile(ctx context.Context, pipeline string, active []state.Decision, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.e.Reconcile(ctx, pipeline, active, now)
}

// Repair repairs the firewall under the lock.
func (l *lockedEnforcer) Repair(ctx context.Context, pipeline string, active []state.Decision, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return enforce.Repair(ctx, l.e, pipeline, active, now)
}

// purgeHistory forgets ban history older than each pipeline's dbpurgeage.
func (d *Daemon) purgeHistory() {
	now := time.Now()
	n, err := d.store.PurgeHistoryFunc(func(pipeline string) time.Time {
		age := pipelines.DefaultDBPurgeAge
		if r, ok := d.pipeline(pipeline); ok {
			age = r.stages.Tracker.Policy().DBPurgeAge
		}
		return now.Add(-age)
	})
	if err != nil {
		d.log.Error("purging ban history", "err", err)
	} else if n > 0 {
		d.log.Info("ban history purged", "records", n)
	}
}
