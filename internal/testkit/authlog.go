package testkit

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// AuthLog generates n lines of a realistic auth.log, the same for every
// call (a fixed seed): about 60% lines of other programs (cron, logind,
// sudo, polkit), the rest sshd's, failures among them from random
// addresses, 800ms apart from 2026-11-25 00:00 UTC. The benchmarks of the
// match stage and of the pipelines read it.
func AuthLog(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	users := []string{"root", "admin", "oracle", "test", "ubuntu", "pi", "git", "postgres"}
	addr := func() string {
		return fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(223), r.IntN(256), r.IntN(256), 1+r.IntN(254))
	}
	lines := make([]string, n)
	for i := range lines {
		ts := start.Add(time.Duration(i) * 800 * time.Millisecond).Format(time.Stamp)
		pid := 1000 + r.IntN(30000)
		var msg string
		switch k := r.IntN(100); {
		case k < 15:
			msg = fmt.Sprintf("CRON[%d]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)", pid)
		case k < 30:
			msg = fmt.Sprintf("CRON[%d]: pam_unix(cron:session): session closed for user root", pid)
		case k < 40:
			msg = fmt.Sprintf("systemd-logind[%d]: New session %d of user alice.", pid, r.IntN(9000))
		case k < 48:
			msg = fmt.Sprintf("sudo[%d]:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt update", pid)
		case k < 55:
			msg = fmt.Sprintf("systemd[%d]: pam_unix(systemd-user:session): session opened for user alice(uid=1000) by (uid=0)", pid)
		case k < 60:
			msg = fmt.Sprintf("polkitd[%d]: Registered Authentication Agent for unix-session:%d", pid, r.IntN(90))
		case k < 66:
			msg = fmt.Sprintf("sshd[%d]: Accepted publickey for alice from %s port %d ssh2: ED25519 SHA256:q2R0aW5nIGlzIG5vdCBhIGtleQ", pid, addr(), 1024+r.IntN(60000))
		case k < 70:
			msg = fmt.Sprintf("sshd[%d]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)", pid)
		case k < 74:
			msg = fmt.Sprintf("sshd[%d]: Received disconnect from %s port %d:11: disconnected by user", pid, addr(), 1024+r.IntN(60000))
		case k < 84:
			msg = fmt.Sprintf("sshd[%d]: Failed password for %s from %s port %d ssh2", pid, users[r.IntN(len(users))], addr(), 1024+r.IntN(60000))
		case k < 90:
			msg = fmt.Sprintf("sshd[%d]: Invalid user %s from %s port %d", pid, users[r.IntN(len(users))], addr(), 1024+r.IntN(60000))
		case k < 95:
			msg = fmt.Sprintf("sshd[%d]: Connection closed by invalid user %s %s port %d [preauth]", pid, users[r.IntN(len(users))], addr(), 1024+r.IntN(60000))
		default:
			msg = fmt.Sprintf("sshd[%d]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s  user=root", pid, addr())
		}
		lines[i] = ts + " host1 " + msg
	}
	return lines
}
