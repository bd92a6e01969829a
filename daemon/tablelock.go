package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockTable makes sure one logjail owns a table in a network namespace.
//
// The authority is an flock on runDir/table-NAME.netns-INODE.lock: runDir is
// the control socket's directory, owned by logjail's user and closed to
// others, so no other user can create, hold or replace the lock; INODE
// names the network namespace (the nftables table is per namespace, a file
// is not). flock ends with the process, so a crash leaves no stale lock.
//
// The abstract unix socket "@logjail/table/NAME" (per network namespace,
// whatever the directories) is a second check, for a logjail started with
// its socket elsewhere. Abstract names have no permissions, so any local
// user can bind it first: it refuses only when its holder is root or
// logjail's own user (SO_PEERCRED); anyone else's socket there is logged
// and ignored.
func lockTable(log *slog.Logger, runDir, table string) (func(), error) {
	netns, err := netnsID()
	if err != nil {
		return nil, err
	}
	if err := checkRunDir(runDir); err != nil {
		return nil, err
	}
	path := filepath.Join(runDir, fmt.Sprintf("table-%s.netns-%d.lock", table, netns))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("table lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("nftables table %q is in use by another logjail in this network namespace (pid %s holds %s)", table, strings.TrimSpace(string(holder)), path)
		}
		return nil, fmt.Errorf("table lock %s: %w", path, err)
	}
	// The holder's pid, for the message above.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	unlockFile := func() { f.Close() } // closing releases the flock

	name := "@logjail/table/" + table
	ln, err := net.Listen("unix", name)
	if err == nil {
		return func() { ln.Close(); unlockFile() }, nil
	}
	if !errors.Is(err, unix.EADDRINUSE) {
		unlockFile()
		return nil, fmt.Errorf("table lock %s: %w", name, err)
	}
	cred, cerr := peerCred(name)
	switch {
	case cerr == nil && (cred.Uid == 0 || cred.Uid == uint32(os.Geteuid())):
		unlockFile()
		return nil, fmt.Errorf("nftables table %q is in use by another logjail in this network namespace (pid %d, uid %d, holds %s)", table, cred.Pid, cred.Uid, name)
	case cerr == nil:
		log.Warn("the table's abstract socket is held by another user's process, not a logjail; ignored (the lock file decides)", "socket", name, "pid", cred.Pid, "uid", cred.Uid, "lock", path)
	default:
		log.Warn("the table's abstract socket is bound but answers nothing, not a logjail; ignored (the lock file decides)", "socket", name, "err", cerr, "lock", path)
	}
	return unlockFile, nil
}

// netnsID is the inode of this process's network namespace.
func netnsID() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return 0, fmt.Errorf("network namespace: %w", err)
	}
	return st.Ino, nil
}

// checkRunDir refuses a lock directory another user could write in: whoever
// can remove or replace the lock file can stop logjail or run two.
func checkRunDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("runtime directory: %w", err)
	}
	euid := uint32(os.Geteuid())
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("runtime directory %s (the control socket's): not a directory", dir)
	case st.Uid != euid:
		return fmt.Errorf("runtime directory %s (the control socket's) is owned by uid %d, not logjail's uid %d: give it to logjail's user (mode 0700 or 0750)", dir, st.Uid, euid)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("runtime directory %s (the control socket's) has mode %04o: others can write in it; make it 0700 or 0750", dir, st.Mode&0o7777)
	}
	return nil
}

// peerCred returns the credentials of the process listening on the unix
// socket name.
func peerCred(name string) (*unix.Ucred, error) {
	c, err := net.Dial("unix", name)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	raw, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var gerr error
	if err := raw.Control(func(fd uintptr) { cred, gerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return nil, err
	}
	return cred, gerr
}
