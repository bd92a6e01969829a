package main

import (
	"strings"
	"testing"
)

func TestInterspersed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"logjail status sshd --json", "logjail status --json -- sshd"},
		{"logjail status --json sshd", "logjail status --json -- sshd"},
		{"logjail ban sshd 192.0.2.1 --for 1h --socket /s", "logjail ban --for 1h --socket /s -- sshd 192.0.2.1"},
		{"logjail ban sshd 192.0.2.1 --for=1h", "logjail ban --for=1h -- sshd 192.0.2.1"},
		{"logjail test sshd -- -not-a-flag", "logjail test -- sshd -not-a-flag"},
		{"logjail unban 2001:db8::1 --pipeline sshd", "logjail unban --pipeline sshd -- 2001:db8::1"},
		{"logjail banned", "logjail banned"},
		{"logjail", "logjail"},
		{"logjail nosuch a --b", "logjail nosuch a --b"},
	} {
		got := strings.Join(interspersed(app(), strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}
