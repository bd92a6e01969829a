package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestHelpTexts: --help says what the command accepts, in words that
// read (a `PLACEHOLDER` in a flag's usage stays in its text).
func TestHelpTexts(t *testing.T) {
	t.Parallel()
	space := regexp.MustCompile(`\s+`)
	for _, tc := range []struct {
		name     string
		args     string
		want     []string
		dontWant []string
	}{
		{"run --config", "run --help", []string{"--config PATH, -c PATH configuration PATH: a file, or a directory whose *.yaml and *.yml files are merged in name order", "logjail.d/*.yaml and *.yml)"}, []string{", PATH"}},
		{"validate --config", "validate --help", []string{"*.yaml and *.yml files"}, []string{", PATH"}},
		{"config show --config", "config show --help", []string{"*.yaml and *.yml files"}, []string{", PATH"}},
		{"test FILTER", "test --help", []string{"a YAML filter file, or a fail2ban filter file (/etc/fail2ban/filter.d/sshd.conf)", "/etc/fail2ban/filter.d/sshd.conf[mode=aggressive]"}, nil},
		// A command lists no help subcommand, and completion after its
		// arguments offers none: there "help" is an argument.
		{"status --help", "status --help", []string{"--json"}, []string{"COMMANDS", "help, h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := app()
			var out strings.Builder
			a.Writer = &out
			if err := a.Run(append([]string{"logjail"}, strings.Fields(tc.args)...)); err != nil {
				t.Fatal(err)
			}
			help := space.ReplaceAllString(out.String(), " ")
			for _, w := range tc.want {
				if !strings.Contains(help, w) {
					t.Errorf("logjail %s does not say %q:\n%s", tc.args, w, out.String())
				}
			}
			for _, w := range tc.dontWant {
				if strings.Contains(help, w) {
					t.Errorf("logjail %s says %q:\n%s", tc.args, w, out.String())
				}
			}
		})
	}
}

// TestCompletionOffersNoHelp: completing after a command's arguments
// offers no "help" (there it would be an argument: `get sshd help` is an
// unknown key), and a command's subcommands are still offered. The real
// binary: urfave/cli writes completions to the process's stdout.
func TestCompletionOffersNoHelp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args string
		want string
	}{
		{"status x --generate-bash-completion", ""},
		{"get sshd --generate-bash-completion", ""},
		{"state --generate-bash-completion", "check\nsalvage\n"},
	} {
		out, err := exec.Command(binary, strings.Fields(tc.args)...).Output()
		if err != nil {
			t.Fatalf("logjail %s: %v", tc.args, err)
		}
		if string(out) != tc.want {
			t.Errorf("logjail %s offers %q, want %q", tc.args, out, tc.want)
		}
	}
}
