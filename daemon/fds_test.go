package daemon

import "testing"

func TestFDBudget(t *testing.T) {
	cases := []struct {
		name  string
		limit uint64
		want  int
	}{
		{"below the reserve", 32, 0},
		{"the reserve exactly", minFDReserve, 0},
		{"a low limit keeps the minimum reserve", 128, 128 - minFDReserve},
		{"Debian's default soft limit", 1024, 768},
		{"systemd's hard limit", 524288, 393216},
		{"unlimited", 1 << 63, 1 << 30},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := fdBudget(tc.limit); got != tc.want {
				t.Errorf("fdBudget(%d) = %d, want %d", tc.limit, got, tc.want)
			}
		})
	}
}
