package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// smallDisk mounts a tmpfs of size bytes on dir, so the test can fill it:
// a real file system that answers ENOSPC.
func smallDisk(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, "mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir)
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

// fill writes dir's file system full and returns a function that frees
// the space again.
func fill(t *testing.T, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("filler-%d", time.Now().UnixNano()))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 16, 1 << 12, 1} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
	return func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// lj runs a logjail client command and returns its output and whether it
// exited with status 0.
func lj(t *testing.T, socket string, args ...string) (string, bool) {
	t.Helper()
	out, err := exec.Command(binary, append(args, "--socket", socket)...).CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("logjail %s: %v", strings.Join(args, " "), err)
		}
	}
	return string(out), err == nil
}

// A manual ban or unban answers success only once the state store has it:
// with the store's disk full the command exits non-zero with the store's
// error, and neither logjail nor the kernel changed; after a SIGKILL and a
// restart, exactly what was reported done is there. A reload on a full disk
// is refused (its pipelines' last commits would fail) and changes nothing.
func TestManualCommandsReportStoreFailure(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	r := &fullDiskRun{tn: newTestNet(t), s: newSetup(t, restartConfig)}
	smallDisk(t, r.s.stateDir, "2m")
	in := r.s.start(t, r.tn)
	for _, tc := range fullDiskSteps {
		t.Run(tc.name, func(t *testing.T) {
			if tc.full {
				defer r.stall(t)()
			}
			out, ok := lj(t, r.s.socket, tc.args...)
			switch {
			case tc.full && ok:
				t.Errorf("logjail %s on a full disk exited 0:\n%s", strings.Join(tc.args, " "), out)
			case tc.full && !strings.Contains(out, "no space left on device"):
				t.Errorf("logjail %s: the error does not name the store's failure:\n%s", strings.Join(tc.args, " "), out)
			case !tc.full && !ok:
				t.Errorf("logjail %s with room: %s", strings.Join(tc.args, " "), out)
			}
			r.check(t, "after "+tc.name, tc.want...)
		})
	}

	// A crash with the disk full again: after the restart, what was
	// reported done is there, what was reported failed is not.
	free := r.stall(t)
	in.kill()
	in.cmd.Process.Wait()
	free()
	r.s.start(t, r.tn)
	r.check(t, "after a crash and a restart", "192.0.2.4")
}

// fullDiskSteps are TestManualCommandsReportStoreFailure's commands, in
// order: each runs with room or on a full disk (full), and leaves want
// banned. (A table of steps: long, one step a row.)
var fullDiskSteps = []struct {
	name string
	full bool
	args []string
	want []string // banned afterwards
}{
	{"ban with room", false, []string{"ban", "e2e", "192.0.2.2"}, []string{"192.0.2.2"}},
	{"ban on a full disk", true, []string{"ban", "e2e", "192.0.2.4"}, []string{"192.0.2.2"}},
	{"unban on a full disk", true, []string{"unban", "192.0.2.2"}, []string{"192.0.2.2"}},
	{"ban after freeing", false, []string{"ban", "e2e", "192.0.2.4"}, []string{"192.0.2.2", "192.0.2.4"}},
	{"unban after freeing", false, []string{"unban", "192.0.2.2"}, []string{"192.0.2.4"}},
	{"ban on a full disk again", true, []string{"ban", "e2e", "192.0.2.3"}, []string{"192.0.2.4"}},
	{"unban all on a full disk", true, []string{"unban", "--all"}, []string{"192.0.2.4"}},
	{"reload on a full disk", true, []string{"reload"}, []string{"192.0.2.4"}},
	{"reload after freeing", false, []string{"reload"}, []string{"192.0.2.4"}},
}

// fullDiskRun is TestManualCommandsReportStoreFailure's logjail, its
// state on a small disk.
type fullDiskRun struct {
	tn    *testNet
	s     *setup
	batch int // the stalls so far: each uses new addresses
}

// check fails unless logjail and its set e2e-v4 both ban exactly want.
func (r *fullDiskRun) check(t *testing.T, when string, want ...string) {
	t.Helper()
	var bans []string
	for _, b := range banned(t, r.s.socket) {
		bans = append(bans, b.Addr)
	}
	slices.Sort(bans)
	if !slices.Equal(bans, want) {
		t.Errorf("%s: logjail banned %v, want %v", when, bans, want)
	}
	var got []string
	for a := range r.tn.elements(t, "e2e-v4") {
		got = append(got, a.String())
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s: set e2e-v4 holds %v, want %v", when, got, want)
	}
}

// stall fills the disk until a commit fails. A full disk fails a commit
// when the store must grow (bbolt rewrites its free pages in place):
// failures of new addresses, under maxretry, make the windows grow until
// the commits fail, as on a busy host.
func (r *fullDiskRun) stall(t *testing.T) (free func()) {
	t.Helper()
	before := status(t, r.s.socket).CommitErrors
	free = fill(t, r.s.stateDir)
	r.batch++
	for i := range 250 {
		r.s.appendLines(t, time.Now(), failures(fmt.Sprintf("198.51.%d.%d", r.batch, i+1), 1)...)
	}
	testkit.WaitFor(t, 10*time.Second, func() error {
		st := status(t, r.s.socket)
		return testkit.Check(st.CommitErrors > before, "a commit failing on the full disk: %d commit errors, as before; %d uncommitted", st.CommitErrors, st.Uncommitted)
	})
	return free
}

// stateDoc is a state export document with n bans of pipeline e2e.
func stateDoc(t *testing.T, n int) string {
	t.Helper()
	var bans []string
	for i := range n {
		bans = append(bans, fmt.Sprintf(`{"pipeline":"e2e","prefix":"10.%d.%d.1/32","time":"2026-11-25T07:00:00Z","until":null,"failures":3,"ban_count":1,"reason":"imported"}`, i/250, i%250))
	}
	path := filepath.Join(t.TempDir(), "state.json")
	doc := `{"logjail_state": 1, "bans": [` + strings.Join(bans, ",") + `]}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// `logjail import` writes its document in one transaction: on a full disk
// it exits non-zero with the store's error and the store is as before.
func TestImportOnFullDisk(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	dir := filepath.Join(t.TempDir(), "state")
	smallDisk(t, dir, "2m")
	if out, err := exportRun(t, "import", stateDoc(t, 1), "--state-dir", dir); err != nil {
		t.Fatalf("logjail import with room: %v\n%s", err, out)
	}
	stored := func() int {
		t.Helper()
		out, err := exec.Command(binary, "export", "--socket", filepath.Join(dir, "none.sock"), "--state-dir", dir).Output()
		if err != nil {
			t.Fatalf("logjail export: %v", err)
		}
		return len(exportedBans(t, out))
	}
	big := stateDoc(t, 3000)
	free := fill(t, dir)
	out, err := exportRun(t, "import", big, "--state-dir", dir)
	if err == nil || !strings.Contains(out, "no space left on device") {
		t.Errorf("logjail import on a full disk: want a failure naming it, got %v:\n%s", err, out)
	}
	if n := stored(); n != 1 {
		t.Errorf("after the failed import the store holds %d bans, want the 1 it had", n)
	}
	free()
	if out, err := exportRun(t, "import", big, "--state-dir", dir); err != nil {
		t.Fatalf("logjail import after freeing: %v\n%s", err, out)
	}
	if n := stored(); n != 3000 {
		t.Errorf("after the import the store holds %d bans, want 3000 (the first one's ban is among them)", n)
	}
}
