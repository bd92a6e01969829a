package pipelines

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/logjail/logjail/match/fail2ban"
)

// DefaultIgnoreCommandTimeout bounds an ignorecommand run.
const DefaultIgnoreCommandTimeout = 5 * time.Second

// IgnoreIPHolding returns the entries of p's ignoreip that hold addr, as
// logjail get lists them: those of the configuration, and those logjail
// set addignoreip added at run time (which logjail set delignoreip
// removes, and no file holds).
func (p *Pipeline) IgnoreIPHolding(addr netip.Addr) (configured, added []string) {
	for _, x := range p.IgnoreIP {
		switch {
		case !netip.Prefix(x).Contains(addr):
		case slices.Contains(p.addedIgnoreIP, x):
			added = append(added, prefixString(netip.Prefix(x)))
		default:
			configured = append(configured, prefixString(netip.Prefix(x)))
		}
	}
	return configured, added
}

// ignoreArgv splits an ignorecommand the way a shell would, without one.
func ignoreArgv(cmd string) ([]string, error) {
	// <ip> is the address's place, not a redirection.
	if op := fail2ban.ShellOperator(strings.ReplaceAll(cmd, "<ip>", "IP")); op != 0 {
		return nil, fmt.Errorf("it needs a shell (%q), and logjail runs it without one: put it in a script and name the script", op)
	}
	argv, err := fail2ban.ShellSplit(cmd)
	if err != nil {
		return nil, err
	}
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return nil, err
	}
	return argv, nil
}

// ignoreCheck returns the ignorecommand as a check, or nil. The command
// runs without a shell, <ip> replaced by the address (which comes from a
// parsed netip.Addr, so it holds nothing a shell or the program could
// misread); exit status 0 means the address is never banned. A command that
// fails to run or times out does not prevent the ban.
func (p *Pipeline) ignoreCheck() func(netip.Addr) bool {
	if p.IgnoreCommand.S == "" {
		return nil
	}
	argv, err := ignoreArgv(p.IgnoreCommand.S)
	if err != nil {
		return nil // Load reported it
	}
	timeout := time.Duration(p.IgnoreCommandTimeout)
	if timeout <= 0 {
		timeout = DefaultIgnoreCommandTimeout
	}
	return func(a netip.Addr) bool {
		args := make([]string, len(argv))
		for i, s := range argv {
			args[i] = strings.ReplaceAll(s, "<ip>", a.String())
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return exec.CommandContext(ctx, args[0], args[1:]...).Run() == nil
	}
}
