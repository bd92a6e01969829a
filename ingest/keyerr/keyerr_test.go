package keyerr

import (
	"errors"
	"fmt"
	"testing"
)

func TestKey(t *testing.T) {
	base := errors.New("syslog: max_connections: -1 is negative")
	cases := []struct {
		name string
		err  error
		key  string
		ok   bool
	}{
		{"plain", base, "", false},
		{"wrapped", Wrap("max_connections", base), "max_connections", true},
		{"wrapped further", fmt.Errorf("pipelines.sshd: %w", Wrap("tls.cert", base)), "tls.cert", true},
	}
	for _, c := range cases {
		key, ok := Key(c.err)
		if key != c.key || ok != c.ok {
			t.Errorf("%s: Key = %q, %v; want %q, %v", c.name, key, ok, c.key, c.ok)
		}
	}
	if got := Wrap("k", base).Error(); got != base.Error() {
		t.Errorf("Wrap changed the message: %q", got)
	}
	if !errors.Is(Wrap("k", base), base) {
		t.Error("Wrap hides the wrapped error")
	}
}

// A constructor joins its parts' errors, and a part may join its own: Each
// gives every one, in order, whatever the nesting.
func TestEachFlattens(t *testing.T) {
	a, b, c := Wrap("a", errors.New("a")), Wrap("b", errors.New("b")), errors.New("c")
	cases := []struct {
		name string
		err  error
		keys []string
	}{
		{"nil", nil, nil},
		{"one", a, []string{"a"}},
		{"joined", errors.Join(a, c), []string{"a", ""}},
		{"nested", errors.Join(a, errors.Join(b, errors.Join(c))), []string{"a", "b", ""}},
	}
	for _, tc := range cases {
		if got := Keys(tc.err); fmt.Sprint(got) != fmt.Sprint(tc.keys) {
			t.Errorf("%s: Keys = %q, want %q", tc.name, got, tc.keys)
		}
	}
}
