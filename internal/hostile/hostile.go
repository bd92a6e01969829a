// Package hostile lists addresses no path of logjail may ban, for tests
// that send the same tokens through every path (a log line, a manual ban,
// a fleet ban, recidive, an import).
package hostile

// base are the non-host addresses of issue 11: unspecified, broadcast,
// multicast, link-local (169.254.0.0/16 is the cloud metadata service's
// range) and loopback beyond 127.0.0.1.
var base = []string{
	"0.0.0.0",
	"255.255.255.255",
	"224.0.0.1",
	"239.255.255.250",
	"::",
	"ff02::1",
	"fe80::1",
	"169.254.10.10",
	"127.1.2.3",
	"::1",
}

// Tokens returns the non-host addresses and the given others (the NATS
// server's, say), each IPv4 one also written IPv4-mapped (::ffff:a.b.c.d).
func Tokens(more ...string) []string {
	var out []string
	for _, a := range append(append([]string{}, base...), more...) {
		out = append(out, a)
		if isV4(a) {
			out = append(out, "::ffff:"+a)
		}
	}
	return out
}

func isV4(a string) bool {
	for _, c := range a {
		if c == ':' {
			return false
		}
	}
	return true
}
