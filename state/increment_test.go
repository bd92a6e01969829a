package state

import (
	"math"
	"testing"
	"time"
)

// The expected ban times are fail2ban 1.0.2's own (Jail.setBanTimeExtra's
// evformula evaluated for the same options), in seconds.
func TestIncrementBanTime(t *testing.T) {
	const s = time.Second
	pow2 := []float64{1, 2, 4, 8, 16, 32, 64}
	half := func() float64 { return 0.5 }
	for _, tc := range []struct {
		name string
		inc  *Increment
		base time.Duration
		rnd  func() float64
		want map[int]float64 // earlier bans → seconds
	}{
		{"off", nil, 600 * s, nil, map[int]float64{0: 600, 1: 600, 5: 600}},
		{"default formula", &Increment{}, 600 * s, nil, map[int]float64{0: 600, 1: 1200, 2: 2400, 3: 4800, 20: 629145600, 25: 629145600}},
		{"factor 2", &Increment{Factor: 2}, 600 * s, nil, map[int]float64{0: 600, 1: 2400, 2: 4800, 3: 9600}},
		{"factor below 1 never shortens", &Increment{Factor: 0.25}, 600 * s, nil, map[int]float64{1: 600, 2: 600, 3: 1200}},
		{"multipliers", &Increment{Multipliers: pow2}, 600 * s, nil, map[int]float64{0: 600, 1: 1200, 2: 2400, 6: 38400, 7: 38400, 100: 38400}},
		{"multipliers for a short bantime", &Increment{Multipliers: []float64{1, 5, 30, 60, 300, 720, 1440, 2880}}, 60 * s, nil, map[int]float64{1: 300, 2: 1800, 7: 172800, 8: 172800}},
		{"multipliers and factor", &Increment{Factor: 2, Multipliers: pow2}, 600 * s, nil, map[int]float64{1: 2400, 3: 9600}},
		{"multipliers replace the formula", &Increment{Formula: FormulaExp, Multipliers: []float64{1, 3}}, 600 * s, nil, map[int]float64{1: 1800, 4: 1800}},
		{"a multiplier below 1 shortens", &Increment{Multipliers: []float64{1, 0.5}}, 600 * s, nil, map[int]float64{1: 300}},
		{"maxtime caps", &Increment{MaxTime: time.Hour}, 600 * s, nil, map[int]float64{0: 600, 1: 1200, 2: 2400, 3: 3600, 4: 3600}},
		{"maxtime does not cap a first ban", &Increment{MaxTime: time.Minute}, 600 * s, nil, map[int]float64{0: 600, 1: 60}},
		{"exp formula with factor ln 2 is the default", &Increment{Formula: FormulaExp, Factor: math.Ln2}, 600 * s, nil, map[int]float64{1: 1200, 2: 2400, 3: 4800}},
		{"exp formula", &Increment{Formula: FormulaExp}, 600 * s, nil, map[int]float64{1: 1630.9690970754273, 2: 4433.43365935839, 3: 12051.3221539126}},
		{"rndtime adds after the cap", &Increment{MaxTime: time.Hour, RndTime: 10 * time.Minute}, 600 * s, half, map[int]float64{0: 600, 1: 1500, 5: 3900}},
		{"permanent stays permanent", &Increment{Factor: 2, RndTime: time.Minute}, PermanentBan, half, map[int]float64{0: -1e-9, 3: -1e-9}},
		{"capped at 100 years", &Increment{}, 365 * 24 * time.Hour, nil, map[int]float64{20: maxBanTime.Seconds()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for n, want := range tc.want {
				got := tc.inc.BanTime(tc.base, n, tc.rnd)
				if math.Abs(got.Seconds()-want) > 1e-6 {
					t.Errorf("%d earlier bans: %v (%.9fs), want %.9fs", n, got, got.Seconds(), want)
				}
			}
		})
	}
}
