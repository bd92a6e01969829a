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

	"github.com/logjail/logjail/daemon/buildinfo"
	"github.com/logjail/logjail/daemon/fleet"
	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/enforce/mail"
	"github.com/logjail/logjail/enforce/nftables"
	"github.com/logjail/logjail/ingest/bans"
	"github.com/logjail/logjail/ingest/file"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
	"github.com/logjail/logjail/state/store"
)

// Defaults of the command line.
const (
	DefaultStateDir = "/var/lib/logjail"
	DefaultSocket   = "/run/logjail/logjail.sock"
)

// Options configure Run.
type Options struct {
	Config *pipelines.Config
	// ConfigPath is read again by a reload (pipelines.Load: "" is the
	// default configuration, its directory listed anew).
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
	// Build is the running binary's build, reported by status, ping and
	// the metrics; when its Version is "", the binary's build information.
	Build buildinfo.Info
}

// Daemon is a running logjail.
type Daemon struct {
	opts  Options
	store *store.Store
	log   *slog.Logger
	table string // the nftables table, fixed for the process

	// mu guards the pipeline table; a reload swaps runners under it.
	mu      sync.RWMutex
	runners map[string]*runner
	order   []string
	failed  map[string]string // pipelines that could not start, with why
	// carried holds the counts of pipelines' ended runners for the next.
	carried carriedCounts
	// reloadMu serialises reloads.
	reloadMu sync.Mutex
	// runCtx is the parent of every runner's context.
	runCtx context.Context
	// firewall watches the nftables layout; nil in a dry run.
	firewall *firewallWatch
	// bus carries every pipeline's bans to the bans sources (recidive).
	bus *bans.Bus
	// fleet is this node's fleet membership; nil without one. It stops
	// after the runners' last commit, so their last messages are sent.
	fleet *fleet.Fleet
	// mailers share a mailer between identical mail blocks of the
	// loaded configuration; a reload makes a new pool.
	mailers *mail.Pool
	// enforcers are each pipeline's, running or failed, stopped at
	// shutdown, when a reload removes the pipeline, or before it builds
	// the pipeline's new ones; guarded by mu.
	enforcers map[string]enforce.Enforcer
	// files is the descriptor budget the file sources share.
	files *file.Budget
	// host follows this host's addresses (ignoreself); servers are the
	// NATS servers' addresses, resolved at start and on reload. The
	// pipelines' gates never ban either.
	host    *gate.Host
	servers *gate.Set
	// evidence is each pipeline's *banEvidence, by name: a reload keeps it.
	evidence sync.Map
	// rt is what logjail set, stop and start changed (see runtime.go).
	rt runtimeState
}

// Run starts every enabled pipeline and serves the control socket until ctx
// is done. Bans stay in the firewall when it returns.
func Run(ctx context.Context, opts Options) error {
	enabled := opts.Config.Enabled()
	if len(enabled) == 0 {
		return errors.New("no enabled pipeline in the configuration")
	}
	store, err := openStateStore(opts)
	if err != nil {
		return err
	}
	defer store.Close()
	host, err := gate.WatchHost(func(err error) {
		opts.Log.Error("following the host's addresses (ignoreself keeps the last ones read)", "err", err)
	})
	if err != nil {
		return err
	}
	defer host.Close()
	d := newDaemon(opts, store, host, tableOf(enabled))
	// The control socket comes before the firewall is touched: a second
	// logjail started by mistake must stop before it rewrites the first
	// one's table.
	srv, ln, err := d.listen()
	if err != nil {
		return err
	}
	defer os.Remove(opts.Socket)
	defer ln.Close()
	if !opts.DryRun {
		closeFirewall, err := d.setUpFirewall(ctx, enabled)
		if err != nil {
			return err
		}
		defer closeFirewall()
	}

	// The runners outlive ctx until the control server has shut down, so a
	// request in flight is answered rather than left waiting.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer d.stopAll() // before the store closes: runners commit on stop
	d.runCtx = runCtx
	if opts.Config.Fleet != nil {
		if opts.DryRun {
			opts.Log.Info("dry run: fleet mode off (nothing is shared)")
		} else {
			if err := d.joinFleet(ctx); err != nil {
				return fmt.Errorf("fleet: %w", err)
			}
			defer d.fleet.Stop()
		}
	}
	if err := d.startPipelines(ctx, enabled); err != nil {
		return err
	}
	return d.serve(ctx, srv, ln, cancel)
}

// openStateStore opens the store before anything touches the firewall: a
// damaged store stops logjail here, with the kernel's bans as they are
// (reconciling with an empty store would remove them all). A dry run keeps
// its bans and positions apart, so that trying a configuration never leaves
// bans that a real run would enforce.
func openStateStore(opts Options) (*store.Store, error) {
	stateDir := opts.StateDir
	if opts.DryRun {
		stateDir = filepath.Join(stateDir, "dry-run")
	}
	store, err := store.Open(stateDir)
	if err != nil {
		return nil, err
	}
	store.SetLog(opts.Log)
	return store, nil
}

func newDaemon(opts Options, store *store.Store, host *gate.Host, table string) *Daemon {
	if opts.Build.Version == "" {
		opts.Build = buildinfo.Read("")
	}
	return &Daemon{opts: opts, store: store, log: opts.Log, table: table,
		runners: map[string]*runner{}, failed: map[string]string{}, enforcers: map[string]enforce.Enforcer{},
		bus: bans.NewBus(), mailers: mail.NewPool(opts.Log.With("enforcer", "mail")),
		files: fileBudget(opts.Log), host: host, servers: gate.NewSet(natsServers(opts.Config)...)}
}

// setUpFirewall takes the table's lock and lays out the table for the
// enabled pipelines; the firewall watch keeps it so. close releases both.
func (d *Daemon) setUpFirewall(ctx context.Context, enabled []*pipelines.Pipeline) (close func(), err error) {
	unlock, err := lockTable(d.log, filepath.Dir(d.opts.Socket), d.table)
	if err != nil {
		return nil, err
	}
	fw, err := nftables.New(nftables.Options{Table: d.table})
	if err != nil {
		unlock()
		return nil, err
	}
	close = func() { fw.Close(); unlock() }
	if err := d.setUpLayout(ctx, fw, firewallSpecs(enabled)); err != nil {
		close()
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%w (logjail needs CAP_NET_ADMIN: run it as root or with that capability)", err)
		}
		return nil, err
	}
	d.firewall = &firewallWatch{fw: fw, specs: firewallSpecs(enabled)}
	return close, nil
}

// startPipelines starts the enabled pipelines at start; one that cannot
// start for want of what this host provides is recorded as failed, but
// logjail needs one running.
func (d *Daemon) startPipelines(ctx context.Context, enabled []*pipelines.Pipeline) error {
	for _, p := range enabled {
		if err := d.startPipeline(ctx, p, nil); err != nil {
			return err
		}
	}
	if len(d.order) == 0 {
		return errors.New("no pipeline could be started")
	}
	d.dropBansOfRemoved(enabled)
	return nil
}

// serve runs the background work (history purge, firewall watch, metrics)
// and the control socket until ctx is done or one of them fails, then
// shuts down in order: the control server, the background work, the
// runners (their last commits), the fleet, the enforcers.
func (d *Daemon) serve(ctx context.Context, srv *http.Server, ln net.Listener, cancel context.CancelFunc) error {
	var wg sync.WaitGroup
	metricsErr := d.background(&wg)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if d.opts.Ready != nil {
		d.opts.Ready()
	}
	d.log.Info("logjail running", "pipelines", d.pipelineNames(), "socket", d.opts.Socket, "state_dir", d.opts.StateDir, "dry_run", d.opts.DryRun)
	err := d.wait(ctx, serveErr, metricsErr)

	shutCtx, shutCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer shutCancel()
	_ = srv.Shutdown(shutCtx)
	cancel()
	wg.Wait()
	d.stopAll()
	if d.fleet != nil {
		d.fleet.Stop()
	}
	d.mu.RLock()
	names := slices.Sorted(maps.Keys(d.enforcers))
	d.mu.RUnlock()
	for _, name := range names {
		d.stopEnforcers(name)
	}
	d.log.Info("logjail stopped")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// background starts the work that runs beside the pipelines until runCtx
// ends: the hourly purge of ban history older than each pipeline's
// dbpurgeage (as fail2ban purges its database), the firewall watch and the
// metrics endpoint, whose failure it returns.
func (d *Daemon) background(wg *sync.WaitGroup) <-chan error {
	d.purgeHistory()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-d.runCtx.Done():
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
			d.watchFirewall(d.runCtx)
		}()
	}
	metricsErr := make(chan error, 1)
	if d.opts.Metrics != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.serveMetrics(d.runCtx, d.opts.Metrics); err != nil {
				metricsErr <- err
			}
		}()
	}
	return metricsErr
}

// wait reloads on request until ctx is done or the control socket or the
// metrics endpoint fails.
func (d *Daemon) wait(ctx context.Context, serveErr, metricsErr <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-serveErr:
			return fmt.Errorf("control socket: %w", err)
		case err := <-metricsErr:
			return err
		case <-d.opts.Reload:
			if names, err := d.reload(ctx); err != nil {
				d.log.Error("reload refused; the running configuration stays", "err", err)
			} else {
				d.log.Info("configuration reloaded", "pipelines", names)
			}
		}
	}
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
func keepBans(ctx context.Context, store *store.Store, enf enforce.Enforcer, pipeline string, policy state.Policy, log *slog.Logger) error {
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
	return enf.Start(ctx, tr.Active(), now)
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
