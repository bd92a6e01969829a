package daemon

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/ingest/bans"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state/store"
)

// The daemon tests' shared kit: a configuration written and loaded, a store
// closed at the end of the test.

// loadConfig writes yaml to dir/logjail.yaml and loads it.
func loadConfig(t testing.TB, dir, yaml string) *pipelines.Config {
	t.Helper()
	path := testkit.WriteFile(t, dir, "logjail.yaml", yaml)
	c, err := pipelines.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// openStore opens the store under dir/state; it is closed when the test
// ends (closing twice is harmless).
func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// startDaemon runs the daemon in-process in dry-run mode with opts, its
// state under dir and its socket dir/s.sock (logs discarded unless
// opts.Log is set), and waits until the control socket answers. stop ends
// it and reports an error Run returned.
func startDaemon(t testing.TB, dir string, opts Options) (cl *Client, stop func()) {
	t.Helper()
	opts.StateDir, opts.Socket, opts.DryRun = filepath.Join(dir, "state"), filepath.Join(dir, "s.sock"), true
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts) }()
	cl = NewClient(opts.Socket)
	testkit.WaitFor(t, 10*time.Second, func() error {
		select {
		case err := <-done:
			t.Fatalf("daemon stopped: %v", err)
		default:
		}
		_, err := cl.Status(context.Background())
		return err
	})
	return cl, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// runWithMetrics runs the daemon with c, its state and socket under dir
// and metrics on a free loopback port, until the test ends. log must tell
// the metrics address on addrs (see newAddrLogger). It returns a client
// and the metrics address.
func runWithMetrics(t *testing.T, dir string, c *pipelines.Config, log *slog.Logger, addrs chan string) (*Client, string) {
	t.Helper()
	cl, stop := startDaemon(t, dir, Options{Config: c, Metrics: "127.0.0.1:0", Log: log})
	t.Cleanup(stop)
	return cl, metricsAddr(t, addrs)
}

// buildRunner builds the first enabled pipeline of c on s and a runner
// for it that enforces through rec (logs discarded, real time).
func buildRunner(t testing.TB, c *pipelines.Config, s *store.Store, rec *decisions) (*runner, *pipelines.Stages) {
	t.Helper()
	r := newTestRunner(t, c.Enabled()[0], s, enforce.Multi{rec})
	return r, r.stages
}

// newTestRunner builds pipeline p on s and returns its runner, not
// started, enforcing with enf.
func newTestRunner(t testing.TB, p *pipelines.Pipeline, s *store.Store, enf enforce.Enforcer) *runner {
	t.Helper()
	st, err := pipelines.Build(p, pipelines.Deps{Positions: s.Scoped(p.Name), Bans: bans.NewBus(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return newRunner(st, enf, s, slog.New(slog.DiscardHandler), time.Now)
}

// process matches entries with the runner's first matcher and applies them,
// as the match stage and the runner goroutine do, on the calling goroutine.
func (r *runner) process(entries ...ingest.Entry) {
	j := &job{entries: entries}
	w := &worker{m: r.stage.first, now: r.now, timeouts: r.stage.first.Timeouts()}
	w.match(j, r.now())
	r.applyJob(j)
}

// startRunner runs r's goroutine, as the daemon does, until stop is
// called or the test ends; ctx is the runner's.
func startRunner(t testing.TB, r *runner) (ctx context.Context, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		r.run(ctx)
	}()
	stop = sync.OnceFunc(func() { cancel(); <-r.done })
	t.Cleanup(stop)
	return ctx, stop
}
