package keyerr

import (
	"testing"
	"time"
)

func TestDefault(t *testing.T) {
	cases := []struct {
		name    string
		v, want time.Duration
		err     string
	}{
		{"zero takes the default", 0, time.Second, ""},
		{"set stays", 3 * time.Millisecond, 3 * time.Millisecond, ""},
		{"negative", -2 * time.Second, -2 * time.Second, "file: poll: -2s is negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := c.v
			err := Default("file", "poll", &v, time.Second)
			if v != c.want {
				t.Errorf("value = %v; want %v", v, c.want)
			}
			if c.err == "" {
				if err != nil {
					t.Errorf("err = %v; want none", err)
				}
				return
			}
			if err == nil || err.Error() != c.err {
				t.Fatalf("err = %v; want %q", err, c.err)
			}
			if k, _ := Key(err); k != "poll" {
				t.Errorf("key = %q; want poll", k)
			}
		})
	}
	n := -1
	if err := Default("syslog", "max_connections", &n, 256); err == nil || err.Error() != "syslog: max_connections: -1 is negative" {
		t.Errorf("int: err = %v", err)
	}
}
