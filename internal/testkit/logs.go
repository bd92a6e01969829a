package testkit

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// LogBuffer collects log output written from other goroutines (a
// slog handler's writer) for a test to read while they run.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Positions is an in-memory store of positions, as the daemon's store
// keeps them: the last value committed per key. Its Position method is
// what sources resume from (ingest.Positions). Err, when set before use,
// is returned by every Position call.
type Positions struct {
	Err error

	mu sync.Mutex
	m  map[string][]byte
}

// Position is the last value committed for key (nil when none).
func (p *Positions) Position(key string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.m[key]), p.Err
}

// Commit remembers value as key's position.
func (p *Positions) Commit(key string, value []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string][]byte{}
	}
	p.m[key] = value
}

// WriteFile writes data to dir/name (mode 0600) and returns its path.
func WriteFile(t testing.TB, dir, name, data string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
