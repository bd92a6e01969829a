package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/logjail/logjail/daemon"
)

// While a generator appends a known attack log, logjail is SIGKILLed at
// random moments and restarted; at the end every address's failure count
// and ban state equal what the log says. Positions, windows and bans are
// committed together, so a kill neither loses nor double-counts a failure.
func TestCrashConsistency(t *testing.T) {
	t.Parallel()
	gapMin, gapSpread := 10, 30
	if os.Getenv("CRASH_FAST") != "" {
		gapMin, gapSpread = 1, 5
	}
	const maxretry = 5
	s := newSetup(t, fmt.Sprintf(e2ePipeline("maxretry: %d", "findtime: 1d", "bantime: 1d", `ingest:
  - file: {paths: [LOGFILE], poll: 50ms}`, sshdFilter), maxretry))
	r := rand.New(rand.NewPCG(7, 11))
	want, lines := crashLog(r, maxretry)
	inst := s.start(t, nil)
	written, genDone := appendSlowly(s.logFile, lines, gapMin, gapSpread)
	for kill := range 5 {
		time.Sleep(time.Duration(150+r.IntN(250)) * time.Millisecond)
		inst.kill()
		inst.cmd.Process.Wait()
		t.Logf("kill %d after %d of %d lines written", kill+1, written(), len(lines))
		inst = s.start(t, nil)
	}
	<-genDone
	cl := daemon.NewClient(s.socket)
	// Wait until the state accounts for every failure (or give up and
	// report the difference below).
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if allSeen(t, cl, want, maxretry) && status(t, s.socket).Uncommitted == 0 {
			break
		}
	}
	failing, err := cl.Failing(context.Background(), "e2e")
	if err != nil {
		t.Fatal(err)
	}
	isBanned := bannedAddrs(t, s.socket)
	for addr, n := range want {
		switch {
		case n >= maxretry && !isBanned[addr]:
			t.Errorf("%s failed %d times: want banned", addr, n)
		case n >= maxretry && failing[addr] != 0:
			t.Errorf("%s is banned but still counted %d", addr, failing[addr])
		case n < maxretry && isBanned[addr]:
			t.Errorf("%s failed %d times: banned (double-counted)", addr, n)
		case n < maxretry && failing[addr] != n:
			t.Errorf("%s failed %d times: counted %d", addr, n, failing[addr])
		}
	}
}

// crashLog is the ground truth: address i fails want[i] times (from 1 to
// twice maxretry), in lines, shuffled.
func crashLog(r *rand.Rand, maxretry int) (want map[string]int, lines []string) {
	want = map[string]int{}
	for i := range 60 {
		addr := fmt.Sprintf("198.51.100.%d", i+1)
		want[addr] = 1 + r.IntN(2*maxretry)
		for j := range want[addr] {
			lines = append(lines, fmt.Sprintf("sshd[%d]: Failed password for root from %s port %d ssh2", 1000+i, addr, 40000+j))
		}
	}
	r.Shuffle(len(lines), func(a, b int) { lines[a], lines[b] = lines[b], lines[a] })
	return want, lines
}

// appendSlowly appends lines to file three at a time, a random gap of
// gapMin to gapMin+gapSpread ms between, in a goroutine of its own;
// written tells how many are written, done is closed at the end.
func appendSlowly(file string, lines []string, gapMin, gapSpread int) (written func() int, done <-chan struct{}) {
	gr := rand.New(rand.NewPCG(13, 17)) // the generator's own: the test's is the test goroutine's
	var mu sync.Mutex
	n := 0
	genDone := make(chan struct{})
	go func() {
		defer close(genDone)
		for i := 0; i < len(lines); i += 3 {
			end := min(i+3, len(lines))
			f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return
			}
			for _, l := range lines[i:end] {
				fmt.Fprintf(f, "%s srv %s\n", time.Now().Format(time.Stamp), l)
			}
			f.Close()
			mu.Lock()
			n = end
			mu.Unlock()
			time.Sleep(time.Duration(gapMin+gr.IntN(gapSpread)) * time.Millisecond)
		}
	}()
	return func() int { mu.Lock(); defer mu.Unlock(); return n }, genDone
}

// allSeen reports whether the state accounts for every failure of the log.
func allSeen(t *testing.T, cl *daemon.Client, want map[string]int, maxretry int) bool {
	failing, err := cl.Failing(context.Background(), "e2e")
	if err != nil {
		return false
	}
	isBanned := bannedAddrs(t, cl.Socket())
	for addr, n := range want {
		if n >= maxretry && !isBanned[addr] || n < maxretry && failing[addr] < n {
			return false
		}
	}
	return true
}
