package match

import "testing"

func TestAnchoredPrefix(t *testing.T) {
	for _, tc := range []struct{ pattern, want string }{
		{`^Failed (?:password|x) for`, "Failed "},
		{`^Invalid user (?P<user>.*) from`, "Invalid user "},
		{`^(?:Connection closed|Disconnected) x`, ""},
		{`Failed`, ""},
		{`^(?i)failed`, ""},
		{`^pam_unix\(sshd:auth\): x`, "pam_unix(sshd:auth): x"},
		{`^(?P<a>(?P<b>Accepted \w+)) for`, "Accepted "},
		{`^(?P<a>Received (?P<b>disconnect)) from`, "Received disconnect from"},
		{`^(?P<a>x(?:y|z))w`, "x"},
	} {
		if got := AnchoredPrefix(tc.pattern); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.pattern, got, tc.want)
		}
	}
}
