package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/ingest/bans"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state/store"
)

// The daemon tests' shared kit: a configuration written and loaded, a store
// closed at the end of the test.

// loadConfig writes yaml to dir/logjail.yaml and loads it.
func loadConfig(t testing.TB, dir, yaml string) *pipelines.Config {
	t.Helper()
	path := filepath.Join(dir, "logjail.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
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

// buildRunner builds c's first enabled pipeline on store, not started,
// with an enforcer that records what it is given.
func buildRunner(t testing.TB, c *pipelines.Config, s *store.Store) (*runner, *decisions) {
	t.Helper()
	rec := &decisions{}
	return newTestRunner(t, c.Enabled()[0], s, enforce.Multi{rec}), rec
}

// runWithMetrics runs the daemon in-process in dry-run mode with c, its
// state and socket under dir and metrics on a free loopback port, until
// the test ends. log must tell the metrics address on addrs (see
// newAddrLogger). It returns a client and the metrics address.
func runWithMetrics(t *testing.T, dir string, c *pipelines.Config, log *slog.Logger, addrs chan string) (*Client, string) {
	t.Helper()
	socket := filepath.Join(dir, "s.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: c, StateDir: filepath.Join(dir, "state"), Socket: socket, DryRun: true, Metrics: "127.0.0.1:0", Log: log})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return NewClient(socket), metricsAddr(t, addrs)
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
