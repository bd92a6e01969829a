package main

import (
	"strings"
	"testing"
)

func TestInterspersed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"flag after argument", "logjail status sshd --json", "logjail status --json -- sshd"},
		{"flag first", "logjail status --json sshd", "logjail status --json -- sshd"},
		{"flag values", "logjail ban sshd 192.0.2.1 --for 1h --socket /s", "logjail ban --for 1h --socket /s -- sshd 192.0.2.1"},
		{"flag=value", "logjail ban sshd 192.0.2.1 --for=1h", "logjail ban --for=1h -- sshd 192.0.2.1"},
		{"after --", "logjail test sshd -- -not-a-flag", "logjail test -- sshd -not-a-flag"},
		{"IPv6 argument", "logjail unban 2001:db8::1 --pipeline sshd", "logjail unban --pipeline sshd -- 2001:db8::1"},
		{"subcommand", "logjail state check /s --json", "logjail state check --json -- /s"},
		{"no arguments", "logjail banned", "logjail banned"},
		{"no command", "logjail", "logjail"},
		{"unknown command", "logjail nosuch a --b", "logjail nosuch a --b"},

		// A negative number or duration is an argument, or the value of
		// a flag that takes one.
		{"negative number", "logjail set sshd bantime -1", "logjail set -- sshd bantime -1"},
		{"negative duration", "logjail set sshd bantime -1d --json", "logjail set --json -- sshd bantime -1d"},
		{"negative before a flag", "logjail set sshd bantime -10m --socket /s", "logjail set --socket /s -- sshd bantime -10m"},
		{"negative flag value", "logjail ban sshd 192.0.2.1 --for -1", "logjail ban --for -1 -- sshd 192.0.2.1"},
		{"negative flag value first", "logjail ban --for -1 sshd 192.0.2.1", "logjail ban --for -1 -- sshd 192.0.2.1"},
		{"bool flag takes no value", "logjail set --json sshd bantime -1", "logjail set --json -- sshd bantime -1"},
		{"dash alone", "logjail test sshd - --json", "logjail test --json -- sshd -"},

		// A completion request goes on as typed, the flag last, and no
		// "--" in front of the arguments (which would run the command).
		{"complete after argument", "logjail status sshd --generate-bash-completion", "logjail status sshd --generate-bash-completion"},
		{"complete a flag after argument", "logjail status sshd --js --generate-bash-completion", "logjail status sshd --js --generate-bash-completion"},
		{"complete a flag's value", "logjail ban sshd 192.0.2.1 --for --generate-bash-completion", "logjail ban sshd 192.0.2.1 --for --generate-bash-completion"},
		{"complete a negative value", "logjail set sshd bantime -1 --generate-bash-completion", "logjail set sshd bantime -1 --generate-bash-completion"},
		{"complete a subcommand", "logjail state check /s --generate-bash-completion", "logjail state check /s --generate-bash-completion"},
		{"complete a command", "logjail --generate-bash-completion", "logjail --generate-bash-completion"},
		// After "--" urfave/cli runs the command: the word is an argument.
		{"completion flag after --", "logjail test sshd -- x --generate-bash-completion", "logjail test -- sshd x --generate-bash-completion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(interspersed(app(), strings.Fields(tc.in)), " ")
			if got != tc.want {
				t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
