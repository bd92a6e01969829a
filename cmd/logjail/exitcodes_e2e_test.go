package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestExitCodes checks the exit codes exitCodes documents against the
// binary: each command's success, usage error and missing daemon (or the
// offline commands' failure), one daemon (dry run) answering the client
// commands; that every command's --help ends with its line; and that
// README's table says the same.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	s := newSetup(t, e2ePipeline(fileSource, sshdFilter))
	s.start(t, nil)
	none := filepath.Join(t.TempDir(), "none.sock")
	sock := []string{"--socket", s.socket}
	noDaemon := []string{"--socket", none}
	cases := append(exitCasesBasic(s, sock, noDaemon, none), exitCasesRuntime(s, sock, noDaemon, none)...)
	for _, tc := range cases {
		err := exec.Command(binary, tc.args...).Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code {
			t.Errorf("logjail %s: exit code %d, documented %d", strings.Join(tc.args, " "), code, tc.code)
		}
	}
	// Every command has its row: a new command cannot go undocumented.
	for _, name := range leafCommands(app().Commands, "") {
		if _, ok := exitCodes[name]; !ok {
			t.Errorf("logjail %s has no exit codes in exitCodes (and README's table)", name)
		}
	}
	readme := string(readFile(t, filepath.Join("..", "..", "README.md")))
	space := regexp.MustCompile(`\s+`)
	for name, line := range exitCodes {
		help, err := exec.Command(binary, append(strings.Fields(name), "--help")...).Output()
		if err != nil {
			t.Fatalf("logjail %s --help: %v", name, err)
		}
		if !strings.Contains(space.ReplaceAllString(string(help), " "), "Exit codes: "+line) {
			t.Errorf("logjail %s --help lacks its exit codes:\n%s", name, help)
		}
		if !strings.Contains(readme, "| `logjail "+name+"` | "+line+" |") {
			t.Errorf("README's table of exit codes lacks logjail %s's: %s", name, line)
		}
	}
}

// leafCommands names the commands a user runs ("state check"), not the
// hidden ones nor those that only hold subcommands.
func leafCommands(cmds []*cli.Command, parent string) []string {
	var names []string
	for _, c := range cmds {
		name := strings.TrimSpace(parent + " " + c.Name)
		switch {
		case c.Hidden:
		case len(c.Subcommands) > 0:
			names = append(names, leafCommands(c.Subcommands, name)...)
		default:
			names = append(names, name)
		}
	}
	return names
}

// exitCase is a command line and the exit code exitCodes documents for it.
type exitCase struct {
	args []string
	code int
}

// exitCasesBasic are the cases of the commands up to test, in order.
func exitCasesBasic(s *setup, sock, noDaemon []string, none string) []exitCase {
	return []exitCase{
		{[]string{"nosuch"}, 2},
		{[]string{"status", "--bogus"}, 1},
		{append([]string{"status"}, sock...), 0},
		{append([]string{"status", "e2e"}, sock...), 0},
		{append([]string{"status", "a", "b"}, sock...), 1},
		{append([]string{"status", "nosuch"}, sock...), 1},
		{append([]string{"status"}, noDaemon...), 1},
		{append([]string{"ping"}, sock...), 0},
		{append([]string{"ping", "x"}, sock...), 1},
		{append([]string{"ping", "--timeout", "1s"}, noDaemon...), 1},
		{append([]string{"ban", "e2e", "192.0.2.7", "192.0.2.8"}, sock...), 0},
		{append([]string{"ban", "e2e", "192.0.2.9", "0.0.0.0"}, sock...), 1},
		{append([]string{"ban", "e2e"}, sock...), 1},
		{append([]string{"ban", "e2e", "192.0.2.7"}, noDaemon...), 1},
		{append([]string{"banned"}, sock...), 0},
		{append([]string{"banned"}, noDaemon...), 1},
		{append([]string{"banned", "192.0.2.7", "192.0.2.8"}, sock...), 0},
		{append([]string{"banned", "192.0.2.7", "192.0.2.10"}, sock...), 1},
		{append([]string{"banned", "192.0.2.10", "--format", "fail2ban"}, sock...), 0},
		{append([]string{"banned", "nonsense"}, sock...), 2},
		{append([]string{"banned", "nonsense", "--format", "fail2ban"}, sock...), 2},
		{append([]string{"banned", "192.0.2.7"}, noDaemon...), 2},
		{append([]string{"banned", "192.0.2.7", "--json", "--format", "json"}, sock...), 1},
		{append([]string{"unban", "192.0.2.7", "192.0.2.8"}, sock...), 0},
		{append([]string{"unban", "192.0.2.7"}, sock...), 1},
		{append([]string{"unban"}, sock...), 1},
		{append([]string{"unban", "192.0.2.7"}, noDaemon...), 1},
		{append([]string{"reload"}, sock...), 0},
		{append([]string{"reload", "x"}, sock...), 1},
		{append([]string{"reload"}, noDaemon...), 1},
		{[]string{"validate", "--config", s.config}, 0},
		{[]string{"validate", "--config", none}, 1},
		{[]string{"validate"}, 1},
		{[]string{"test", "sshd", "Nov 25 07:13:18 h sshd[1]: nothing to see"}, 0},
		{[]string{"test", "sshd"}, 1},
		{[]string{"test", "nosuchfilter", "Nov 25 07:13:18 h x: y"}, 1},
		{[]string{"filters"}, 0},
		{[]string{"filters", "sshd", "--json"}, 0},
		{[]string{"filters", "apache-fakegooglebot"}, 1},
		{[]string{"filters", "sshd", "vsftpd"}, 1},
	}
}

// exitCasesRuntime are the cases of explain, get, set, stop, start,
// simulate and config show, run after exitCasesBasic's.
func exitCasesRuntime(s *setup, sock, noDaemon []string, none string) []exitCase {
	return []exitCase{
		{append([]string{"ban", "e2e", "192.0.2.20"}, sock...), 0},
		{append([]string{"explain", "192.0.2.20"}, sock...), 0},
		{append([]string{"explain", "192.0.2.21"}, sock...), 1},
		{append([]string{"explain"}, sock...), 1},
		{append([]string{"explain", "nonsense"}, sock...), 2},
		{append([]string{"explain", "192.0.2.20"}, noDaemon...), 2},
		{append([]string{"get", "e2e", "maxretry"}, sock...), 0},
		{append([]string{"get", "e2e", "nosuchkey"}, sock...), 2},
		{append([]string{"get", "e2e"}, sock...), 1},
		{append([]string{"get", "nosuch", "maxretry"}, sock...), 1},
		{append([]string{"get", "e2e", "maxretry"}, noDaemon...), 1},
		{append([]string{"set", "e2e", "maxretry", "3"}, sock...), 0},
		{append([]string{"set", "e2e", "maxretry", "many"}, sock...), 2},
		{append([]string{"set", "e2e", "maxretry"}, sock...), 1},
		{append([]string{"stop", "e2e"}, sock...), 0},
		{append([]string{"stop", "e2e"}, sock...), 3},
		{append([]string{"set", "e2e", "maxretry", "4"}, sock...), 3},
		{append([]string{"start", "e2e"}, sock...), 0},
		{append([]string{"start", "e2e"}, sock...), 3},
		{append([]string{"start"}, sock...), 1},
		{append([]string{"stop", "e2e"}, noDaemon...), 1},
		{[]string{"simulate", "--config", s.config, s.logFile}, 0},
		{[]string{"simulate", "--config", s.config, none}, 1},
		{[]string{"simulate", "--config", s.config}, 1},
		{[]string{"config", "show", "--config", s.config}, 0},
		{[]string{"config", "show", "--config", none}, 1},
	}
}
