package main

import (
	"strings"
	"testing"
)

// Settings print as the YAML writes them, as config show does, on one line
// in set's answer and status, one key or item a line in get; never Go's
// syntax. The values are as JSON decodes them from the daemon.
func TestValueText(t *testing.T) {
	increment := map[string]any{"factor": float64(2), "formula": "default", "multipliers": []any{float64(1), float64(2.5)},
		"maxtime": "0s", "rndtime": "0s", "overalljails": false}
	for _, tc := range []struct {
		name      string
		value     any
		line, get string
	}{
		{"bantime_increment", increment,
			"{factor: 2, formula: default, maxtime: 0s, multipliers: [1, 2.5], overalljails: false, rndtime: 0s}",
			"factor: 2\nformula: default\nmaxtime: 0s\nmultipliers: [1, 2.5]\noveralljails: false\nrndtime: 0s\n"},
		{"increment off", nil, "off", "off\n"},
		{"no ignorecommand", "", `""`, "\"\"\n"},
		{"ignorecommand", "/usr/local/bin/known <ip>", "/usr/local/bin/known <ip>", "/usr/local/bin/known <ip>\n"},
		{"a string YAML quotes", "check: <ip>", "'check: <ip>'", "'check: <ip>'\n"},
		{"ignoreip", []any{"192.0.2.1", "10.0.0.0/8"}, "[192.0.2.1, 10.0.0.0/8]", "192.0.2.1\n10.0.0.0/8\n"},
		{"empty list", []any{}, "[]", ""},
		{"maxretry", float64(3), "3", "3\n"},
		{"bantime", "1h30m", "1h30m", "1h30m\n"},
		{"ignoreself", true, "true", "true\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := valueText(tc.value); got != tc.line {
				t.Errorf("valueText: %q, want %q", got, tc.line)
			}
			var b strings.Builder
			writeValue(&b, tc.value)
			if b.String() != tc.get {
				t.Errorf("writeValue: %q, want %q", b.String(), tc.get)
			}
		})
	}
}
