package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// fail2banFloodN is the flood fail2ban-server gets: its stock nftables
// action runs nft once per ban (about 20 bans/s), so a small one.
const fail2banFloodN = 200

// fail2banJail is the jail of the comparison: fail2ban's own sshd filter
// and stock nftables action, the flood pipeline's maxretry, findtime and
// bantime, the log polled.
const fail2banJail = `[sshd]
enabled = true
filter = sshd
backend = polling
logpath = %s
maxretry = 5
findtime = 600
bantime = 3600
action = nftables[port="2222", protocol="tcp"]
`

// fail2banFlood runs fail2ban-server with a configuration of its own (socket,
// pid file, database, log in a temporary directory; fail2ban's installed
// filters and actions) in a network namespace the test makes, appends n
// attackers' failures at once to its log and returns the seconds until all
// n are in the set of its nftables action.
func fail2banFlood(b *testing.B, n int) float64 {
	server := testkit.NeedProgram(b, "fail2ban-server", "fail2ban")
	client := testkit.NeedProgram(b, "fail2ban-client", "fail2ban")
	ns := testkit.NamedNetns(b, "lj-f2b")
	dir := b.TempDir()
	conf := filepath.Join(dir, "conf")
	sock, logFile := filepath.Join(dir, "f2b.sock"), filepath.Join(dir, "auth.log")
	if err := os.MkdirAll(conf, 0o700); err != nil {
		b.Fatal(err)
	}
	for _, sub := range []string{"filter.d", "action.d"} {
		if err := os.Symlink(filepath.Join("/etc/fail2ban", sub), filepath.Join(conf, sub)); err != nil {
			b.Fatal(err)
		}
	}
	for path, text := range map[string]string{
		filepath.Join(conf, "fail2ban.conf"): fmt.Sprintf("[Definition]\nloglevel = INFO\nlogtarget = %s\nsocket = %s\npidfile = %s\ndbfile = %s\n",
			filepath.Join(dir, "fail2ban.log"), sock, filepath.Join(dir, "f2b.pid"), filepath.Join(dir, "f2b.sqlite3")),
		filepath.Join(conf, "jail.conf"): fmt.Sprintf(fail2banJail, logFile),
		logFile:                          "",
	} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	p := startThirdParty(b, ns, dir, "fail2ban-server", server, "-f", "-x", "-c", conf)
	p.waitFile(b, sock)
	testkit.WaitFor(b, 30*time.Second, func() error {
		return exec.Command(client, "-c", conf, "-s", sock, "status", "sshd").Run()
	})
	start := time.Now()
	writeFlood(b, logFile, n)
	testkit.WaitFor(b, 10*time.Minute, func() error {
		got := fail2banBanned(ns)
		return testkit.Check(got >= n, "fail2ban's set holds %d of %d attackers", got, n)
	})
	return time.Since(start).Seconds()
}

// fail2banBanned counts the addresses in the set of fail2ban's nftables
// action (a small set: nft lists it quickly).
func fail2banBanned(ns string) int {
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "set", "inet", "f2b-table", "addr-set-sshd").Output()
	if err != nil {
		return 0
	}
	_, elems, ok := strings.Cut(string(out), "elements = {")
	if !ok {
		return 0
	}
	elems, _, _ = strings.Cut(elems, "}")
	return strings.Count(elems, ".") / 3 // IPv4 addresses
}
