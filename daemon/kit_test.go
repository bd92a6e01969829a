package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state"
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
func openStore(t testing.TB, dir string) *state.Store {
	t.Helper()
	s, err := state.OpenStore(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
