package journalfields

import (
	"strings"
	"testing"
	"time"
)

func TestEntry(t *testing.T) {
	now := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	rt := time.UnixMicro(1_700_000_000_123_456)
	cases := []struct {
		name     string
		fields   map[string]string
		realtime time.Time
		msg      string
		time     time.Time
		kept     []string // fields that must be kept
		dropped  []string // fields that must be left out
	}{
		{"layout", map[string]string{"_HOSTNAME": "vm", "SYSLOG_IDENTIFIER": "sshd", "_PID": "4001", "MESSAGE": " Failed password\r\n", "_SYSTEMD_UNIT": "ssh.service"},
			rt, "vm sshd[4001]: Failed password", rt, []string{"_SYSTEMD_UNIT", "_PID"}, []string{"MESSAGE"}},
		{"source time wins", map[string]string{"MESSAGE": "m", "_SOURCE_REALTIME_TIMESTAMP": "1600000000000001"},
			rt, "m", time.UnixMicro(1_600_000_000_000_001), nil, nil},
		{"unknown realtime stays zero", map[string]string{"MESSAGE": "m", "_SOURCE_REALTIME_TIMESTAMP": "x"},
			time.Time{}, "m", time.Time{}, nil, nil},
		{"large field left out", map[string]string{"MESSAGE": "m", "BIG": strings.Repeat("y", MaxField+1), "OK": strings.Repeat("y", MaxField)},
			rt, "m", rt, []string{"OK"}, []string{"BIG"}},
		{"too large a host is left out of the line", map[string]string{"_HOSTNAME": strings.Repeat("h", MaxField+1), "_COMM": "cron", "MESSAGE": "m"},
			rt, "cron: m", rt, nil, []string{"_HOSTNAME"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, ok := Entry(tc.fields, tc.realtime, now)
			if !ok {
				t.Fatal("not delivered")
			}
			if e.Message != tc.msg || !e.Time.Equal(tc.time) || !e.ReadAt.Equal(now) {
				t.Errorf("got %q at %v, want %q at %v", e.Message, e.Time, tc.msg, tc.time)
			}
			for _, k := range tc.kept {
				if _, ok := e.Fields[k]; !ok {
					t.Errorf("field %s left out", k)
				}
			}
			for _, k := range tc.dropped {
				if _, ok := e.Fields[k]; ok {
					t.Errorf("field %s kept", k)
				}
			}
		})
	}
	if _, ok := Entry(map[string]string{"MESSAGE": strings.Repeat("x", MaxMessage+1)}, rt, now); ok {
		t.Error("message over MaxMessage delivered")
	}
}
