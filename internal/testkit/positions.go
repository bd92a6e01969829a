package testkit

import (
	"bytes"
	"sync"
)

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
