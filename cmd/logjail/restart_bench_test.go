package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// BenchmarkRestartRestore measures issue 13's "100k active bans are
// restored into an empty table at start in under 2 s" as a user meets it:
// a flood of N attackers banned by the real binary in a network namespace,
// logjail stopped (SIGTERM), its nftables table deleted, and logjail
// started again on the same state: the time from exec until every one of
// the N bans is an element of the kernel set again (store opened and
// checked, bans read, the firewall reconciled).
//
//	LOGJAIL_FLOOD_BENCH=1 go test -run '^$' -bench RestartRestore -benchtime 1x -timeout 30m ./cmd/logjail/
func BenchmarkRestartRestore(b *testing.B) {
	if os.Getenv("LOGJAIL_FLOOD_BENCH") != "1" {
		b.Skip("a flood and a restart: run it with `task flood-bench` (LOGJAIL_FLOOD_BENCH=1)")
	}
	testkit.NeedRoot(b, "ip", "nft")
	const n = 100_000
	var secs float64
	for range b.N {
		secs = restartRestore(b, n)
	}
	fmt.Printf("restart with %d active bans and an empty table: all in the kernel set %.2fs after exec\n", n, secs)
	b.ReportMetric(secs, "s-to-restore")
	b.ReportMetric(0, "ns/op")
}

// restartRestore bans n attackers, stops logjail, empties the firewall and
// times the start that restores them.
func restartRestore(b *testing.B, n int) float64 {
	b.StopTimer()
	tn := &testNet{srv: testkit.NamedNetns(b, "lj-restart")}
	s := newSetup(b, floodConfig)
	s.logLevel = "info"
	in := s.start(b, tn)
	writeFlood(b, s.logFile, n)
	waitAttackersInSet(b, tn.srv, n, time.Now())
	stopGracefully(b, in.cmd.Process.Pid)
	testkit.Run(b, "ip", "netns", "exec", tn.srv, "nft", "delete", "table", "inet", "logjail")
	if err := setHolds(b, tn.srv, "e2e-v4", 0, 1); err == nil {
		b.Fatal("the table is still there")
	}
	cmd := s.command(tn)
	cmd.Stdout, cmd.Stderr = in.log, in.log
	b.StartTimer()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitAttackersInSet(b, tn.srv, n, start)
	b.StopTimer()
	return time.Since(start).Seconds()
}

// stopGracefully sends SIGTERM to pid and waits until it has exited (the
// instance's own goroutine reaps it).
func stopGracefully(b *testing.B, pid int) {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	testkit.WaitFor(b, time.Minute, func() error {
		err := syscall.Kill(pid, 0)
		return testkit.Check(errors.Is(err, syscall.ESRCH), "logjail (pid %d) still running after SIGTERM: %v", pid, err)
	})
}
