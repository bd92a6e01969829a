package main

import (
	"context"
	binenc "encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/internal/testkit"
)

// A damaged state store stops logjail at start, before it touches the
// firewall: the bans an earlier run put in the kernel stay. `state check`
// finds the damage; `state salvage` keeps the readable bans, which the next
// start enforces. (The full matrix of corruptions is state's
// TestCorruptStoreRefused; this is a representative subset with the real
// binary and nftables.)
func TestDamagedStoreLeavesKernelBans(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	for _, tc := range storeDamages {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tn := newTestNet(t)
			s := newSetup(t, restartConfig)
			kernelBansOfStoppedRun(t, tn, s)
			path := filepath.Join(s.stateDir, "logjail.db")
			tc.corrupt(t, path)
			refusedStartKeepsKernelBans(t, tn, s, path)
			salvageStore(t, s, tc.kept == nil)
			s.start(t, tn)
			var got []string
			for _, b := range banned(t, s.socket) {
				got = append(got, b.Addr)
			}
			if strings.Join(got, " ") != strings.Join(tc.kept, " ") {
				t.Errorf("after salvage, banned %v, want %v", got, tc.kept)
			}
			for _, a := range tc.kept {
				testkit.WaitFor(t, 5*time.Second, func() error {
					k := inKernel(t, tn)
					return testkit.Check(k[a], "%s in the set after salvage: the set holds %v", a, k)
				})
			}
		})
	}
}

// storePage is bbolt's page size on the test machines.
const storePage = 4096

// highWater is the end of the pages a bbolt file b uses (its meta pages'
// high-water mark).
func highWater(b []byte) int {
	return storePage * int(max(binenc.LittleEndian.Uint64(b[56:]), binenc.LittleEndian.Uint64(b[storePage+56:])))
}

// viaBolt damages the store through bbolt: fn writes what is wrong.
func viaBolt(fn func(tx *bolt.Tx) error) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
	}
}

// onBytes damages the store's file: fn returns its new content.
func onBytes(fn func(b []byte) []byte) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, fn(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// storeDamages are TestDamagedStoreLeavesKernelBans's corruptions; kept
// are the bans a salvage keeps (nil: only --start-over helps).
var storeDamages = []struct {
	name    string
	corrupt func(t *testing.T, path string)
	kept    []string
}{
	{"zero bytes", onBytes(func([]byte) []byte { return nil }), nil},
	// The last page in use is cut: what the other pages hold is salvaged.
	{"truncated", onBytes(func(b []byte) []byte { return b[:highWater(b)-storePage] }), []string{"192.0.2.2", "192.0.2.9"}},
	{"meta pages zeroed", onBytes(func(b []byte) []byte { clear(b[:2*storePage]); return b }), nil},
	{"data page headers garbled", onBytes(func(b []byte) []byte {
		for off := 2 * storePage; off < highWater(b); off += storePage {
			copy(b[off:], strings.Repeat("\xff", 16))
		}
		return b
	}), nil},
	{"a ban garbled", viaBolt(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("bans")).Put([]byte("e2e\x00192.0.2.2/32"), []byte("{garbled"))
	}), []string{"192.0.2.9"}},
	{"layout version 99", viaBolt(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("version"), []byte("99"))
	}), []string{"192.0.2.2", "192.0.2.9"}},
}

// kernelBansOfStoppedRun runs logjail until it bans 192.0.2.2 (from the
// log) and 192.0.2.9 (by hand), and kills it: the bans stay in the kernel.
func kernelBansOfStoppedRun(t *testing.T, tn *testNet, s *setup) {
	t.Helper()
	first := s.start(t, tn)
	s.appendLines(t, time.Now(), failures("192.0.2.2", 3)...)
	waitBanCount(t, 10*time.Second, s.socket, 1)
	if out, err := exec.Command(binary, "ban", "e2e", "192.0.2.9", "--socket", s.socket).CombinedOutput(); err != nil {
		t.Fatalf("logjail ban: %v\n%s", err, out)
	}
	first.kill()
	first.cmd.Process.Wait()
	if k := inKernel(t, tn); !k["192.0.2.2"] || !k["192.0.2.9"] {
		t.Fatalf("before the damage, the set holds %v", k)
	}
}

// inKernel is the addresses in the e2e-v4 set.
func inKernel(t *testing.T, tn *testNet) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	for a := range tn.elements(t, "e2e-v4") {
		got[a.String()] = true
	}
	return got
}

// refusedStartKeepsKernelBans starts logjail on the damaged store at path:
// it must refuse, name the file and the ways out, and leave the kernel's
// bans as they were.
func refusedStartKeepsKernelBans(t *testing.T, tn *testNet, s *setup, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", tn.srv, binary, "run", "--config", s.config,
		"--state-dir", s.stateDir, "--socket", s.socket).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("logjail ran with a damaged store:\n%s", out)
	}
	if err == nil || !strings.Contains(string(out), path) || !strings.Contains(string(out), "logjail state check") {
		t.Fatalf("want a refusal naming %s and the ways out, got %v:\n%s", path, err, out)
	}
	if k := inKernel(t, tn); !k["192.0.2.2"] || !k["192.0.2.9"] {
		t.Fatalf("the refused start changed the kernel's bans: the set holds %v", k)
	}
}

// salvageStore: state check reports the damage, state salvage repairs it
// (unreadable: it refuses and points to --start-over, which is used), and
// state check passes after.
func salvageStore(t *testing.T, s *setup, unreadable bool) {
	t.Helper()
	out, err := exec.Command(binary, "state", "check", "--state-dir", s.stateDir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "DAMAGED") {
		t.Fatalf("state check: want a report of damage and a failure, got %v:\n%s", err, out)
	}
	salvage := []string{"state", "salvage", "--state-dir", s.stateDir}
	if unreadable {
		out, err = exec.Command(binary, salvage...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--start-over") {
			t.Fatalf("salvage of an unreadable store: want a refusal pointing to --start-over, got %v:\n%s", err, out)
		}
		salvage = append(salvage, "--start-over")
	}
	if out, err = exec.Command(binary, salvage...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(salvage, " "), err, out)
	}
	t.Logf("salvage:\n%s", out)
	if out, err := exec.Command(binary, "state", "check", "--state-dir", s.stateDir).CombinedOutput(); err != nil {
		t.Fatalf("state check after salvage: %v\n%s", err, out)
	}
}

// When the store's pages are damaged under a running logjail (another
// program wrote into the file), bbolt panics inside a commit: logjail goes
// on, refuses further writes, logs it and shows it in its status. Runs
// without privileges, in dry-run mode.
func TestBrokenStoreKeepsDaemonRunning(t *testing.T) {
	t.Parallel()
	s := newSetup(t, e2ePipeline("maxretry: 2", `ingest:
  - file: {paths: [LOGFILE], poll: 100ms}`, sshdFilter))
	inst := s.start(t, nil)
	path := filepath.Join(s.stateDir, "dry-run", "logjail.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for off := 2 * storePage; off < highWater(b); off += storePage {
		if _, err := f.WriteAt([]byte(strings.Repeat("\xff", 16)), int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	s.appendLines(t, time.Now(), failures("198.51.100.7", 2)...)
	var st daemon.Status
	testkit.WaitFor(t, 10*time.Second, func() error {
		out, err := exec.Command(binary, "status", "--json", "--socket", s.socket).Output()
		if err != nil {
			t.Fatalf("logjail status: %v (did logjail die?)", err)
		}
		if err := json.Unmarshal(out, &st); err != nil {
			t.Fatal(err)
		}
		return testkit.Check(st.StoreError != "", "status shows the broken store: no store error in %s", out)
	})
	if !strings.Contains(st.StoreError, path) {
		t.Errorf("store error does not name %s: %s", path, st.StoreError)
	}
	if inst.cmd.ProcessState != nil {
		t.Fatal("logjail exited")
	}
	testkit.WaitFor(t, 5*time.Second, func() error {
		n := linesWith(t, inst.log.Name(), "state store broken")
		return testkit.Check(n == 1, "the broken store logged: %d lines with \"state store broken\", want 1", n)
	})
}
