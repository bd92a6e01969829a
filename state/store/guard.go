package store

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// ErrDamaged is wrapped by every refusal to open a store that exists
// but cannot be trusted (empty, truncated, corrupted, not a logjail store).
var ErrDamaged = errors.New("state store is damaged")

// ErrBroken is returned by every write once bbolt has panicked: a store
// whose pages made bbolt panic is not written again by this process.
var ErrBroken = errors.New("state store is broken")

// DamagedError says which store file cannot be used, why, and the ways out.
type DamagedError struct {
	Path   string
	Reason error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("state store %s: %v; logjail will not use it, so it leaves the firewall's bans as they are. "+
		"Ways out: `logjail state check --state-dir DIR` to see what is wrong, restore the file from a backup, "+
		"or `logjail state salvage --state-dir DIR` to keep its readable records (--start-over to begin with an empty store)",
		e.Path, e.Reason)
}

// Unwrap lets errors.Is find ErrDamaged and the reason's own sentinels.
func (e *DamagedError) Unwrap() []error { return []error{ErrDamaged, e.Reason} }

// panicError is a bbolt panic turned into an error.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("bbolt panicked: %v", p.value) }

// recoverBolt runs fn, turning a bbolt panic into an error. A read beyond
// the end of a truncated file faults on the memory map (SIGBUS) or a
// pointer aimed outside it (SIGSEGV): SetPanicOnFault makes those panics
// too instead of killing the process.
func recoverBolt(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: debug.Stack()}
		}
	}()
	return fn()
}

// update runs a write transaction at the store's boundary: refused once the
// store is broken, and a panic breaks it.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	if err := s.Broken(); err != nil {
		return err
	}
	return s.guard(func() error { return s.db.Update(fn) })
}

// view runs a read transaction; a panic breaks the store as in update.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	return s.guard(func() error { return s.db.View(fn) })
}

func (s *Store) guard(fn func() error) error {
	err := recoverBolt(fn)
	var p *panicError
	if errors.As(err, &p) {
		s.markBroken(p)
		return fmt.Errorf("%w: %s: %v", ErrBroken, s.path, p)
	}
	return err
}

// markBroken records the first panic and logs it once, with its stack: the
// store refuses writes from now on, and status shows why.
func (s *Store) markBroken(p *panicError) {
	err := fmt.Errorf("%w: %s: %v (writes refused until logjail restarts; run `logjail state check`)", ErrBroken, s.path, p)
	if s.broken.CompareAndSwap(nil, &err) {
		s.logger().Error("state store broken: bbolt panicked; no more writes to it", "path", s.path, "panic", fmt.Sprint(p.value), "stack", string(p.stack))
	}
}

// Broken returns why the store refuses writes, or nil while it is sound.
func (s *Store) Broken() error {
	if e := s.broken.Load(); e != nil {
		return *e
	}
	return nil
}

// SetLog sets the logger of the store's own reports (default slog.Default).
func (s *Store) SetLog(l *slog.Logger) { s.log.Store(l) }

func (s *Store) logger() *slog.Logger {
	if l := s.log.Load(); l != nil {
		return l
	}
	return slog.Default()
}
