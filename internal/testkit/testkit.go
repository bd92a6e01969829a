// Package testkit is what the tests of every package share: polling with a
// deadline, in-process NATS servers, TLS certificates, network namespaces,
// in-memory positions, log buffers and generated logs. Only tests import
// it, so the logjail binary never links it.
//
// It imports none of logjail's packages, so a test of any of them, inside
// the package or outside, can import it without a cycle.
package testkit

import (
	"fmt"
	"testing"
	"time"
)

// WaitFor calls cond until it returns nil, and fails the test when
// timeout passes first, with cond's last error: a failure says what the
// state was, not only that it was wrong. It polls quickly at first (from
// 1ms up to every 20ms), and pauses at least four times as long as cond
// took, so a costly check (a command run per call) leaves the machine to
// what is being waited for.
func WaitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for {
		began := time.Now()
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(max(pause, 4*time.Since(began)))
		pause = min(2*pause, 20*time.Millisecond)
	}
}

// Check turns a boolean condition into WaitFor's: nil when ok, else an
// error that says what was awaited.
func Check(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

// Eventually is WaitFor for a condition that only says yes or no: the
// failure names what was awaited. Prefer WaitFor with an error that shows
// the state where the state is at hand.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	WaitFor(t, timeout, func() error { return Check(cond(), "still waiting for %s", what) })
}

// Lazy is an error whose message describe makes only when it is read:
// for a description of the state that costs something (a command run),
// which WaitFor needs only when it gives up.
func Lazy(describe func() string) error { return lazyError(describe) }

type lazyError func() string

func (e lazyError) Error() string { return e() }
