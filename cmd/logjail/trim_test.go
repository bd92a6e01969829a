package main

import (
	"slices"
	"testing"
)

// Only the binary's own read-only mappings are given up: not its data
// segment (written to), not a library's, not another file's whose name
// starts the same.
func TestReadOnlyMappings(t *testing.T) {
	for _, tc := range []struct {
		name, exe string
		want      []addrRange
	}{
		{"the binary", "/usr/sbin/logjail", []addrRange{{0x400000, 0x402000}, {0x402000, 0xcd8000}, {0xcd8000, 0x15e1000}}},
		{"unknown binary", "", nil},
		{"a binary not mapped", "/usr/bin/other", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := readOnlyMappings("testdata/proc-self-maps.txt", tc.exe)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %x, want %x", got, tc.want)
			}
		})
	}
	if got := readOnlyMappings("testdata/no-such-file", "/usr/sbin/logjail"); got != nil {
		t.Errorf("without a maps file: %x", got)
	}
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want addrRange
		ok   bool
	}{
		{"00400000-00402000", addrRange{0x400000, 0x402000}, true},
		{"7fff5a3f8000-7fff5a3fa000", addrRange{0x7fff5a3f8000, 0x7fff5a3fa000}, true},
		{"00402000-00400000", addrRange{}, false}, // empty or reversed
		{"00400000", addrRange{}, false},
		{"zz-00400000", addrRange{}, false},
	} {
		got, ok := parseRange(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRange(%q) = %x, %v; want %x, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// Giving the pages up in this very process leaves it working: the code
// runs on, read back from the binary.
func TestTrimAfterStartKeepsRunning(t *testing.T) {
	if len(readOnlyMappings("/proc/self/maps", executable())) == 0 {
		t.Fatal("the test binary's own mappings not found in /proc/self/maps")
	}
	trimAfterStart()
	if got := slices.Sorted(slices.Values([]string{"b", "a"})); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("after trimming: %v", got)
	}
}
