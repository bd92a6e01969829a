package state

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Formula is the growth of an incremented ban time when no multipliers are
// given (fail2ban's bantime.formula; logjail evaluates no Python, so the two
// formulas fail2ban documents are built in).
type Formula uint8

const (
	// FormulaDefault is fail2ban's default formula:
	// bantime × 2^min(n, 20) × factor, never less than bantime.
	FormulaDefault Formula = iota
	// FormulaExp is fail2ban's "more aggressive" example formula:
	// bantime × e^((n+1)·factor) / e^factor, never less than bantime.
	FormulaExp
)

func (f Formula) String() string {
	if f == FormulaExp {
		return "exp"
	}
	return "default"
}

// maxBanTime bounds an incremented ban time (a long bantime doubled twenty
// times would overflow): 100 years, the longest configurable bantime.
const maxBanTime = time.Duration(100 * 365.25 * 24 * float64(time.Hour))

// Increment is fail2ban's bantime.increment: a prefix banned before is
// banned for longer. n below is the number of earlier bans in the history
// (the new ban's count is n+1). The first ban (n = 0) lasts bantime as
// configured: no formula, no maxtime, no rndtime, as in fail2ban.
type Increment struct {
	// Factor multiplies the formula's or the multipliers' result (for the
	// formulas it is in the exponent of FormulaExp); 0 means 1.
	Factor float64
	// Formula grows the ban time when Multipliers is empty.
	Formula Formula
	// Multipliers replace the formula: bantime × factor × Multipliers[n],
	// the last one repeating once n runs past the end. (Multipliers[0] is
	// thus never used: a first ban lasts bantime.)
	Multipliers []float64
	// MaxTime caps an incremented ban time; 0 = no cap.
	MaxTime time.Duration
	// RndTime adds a random 0..RndTime to an incremented ban time, so a
	// botnet cannot compute the exact moment of the unban.
	RndTime time.Duration
	// OverallJails counts earlier bans of the prefix in every pipeline, not
	// only this one.
	OverallJails bool
}

// BanTime returns the duration of a ban with n earlier bans: base for a
// first ban, a permanent base or a nil Increment; rnd returns a number in
// [0, 1) (only called when RndTime is set).
func (inc *Increment) BanTime(base time.Duration, n int, rnd func() float64) time.Duration {
	if inc == nil || base <= 0 || n <= 0 {
		return base // PermanentBan (-1) stays permanent
	}
	factor := inc.Factor
	if factor == 0 {
		factor = 1
	}
	b := float64(base)
	var d float64
	switch {
	case len(inc.Multipliers) > 0:
		d = b * factor * inc.Multipliers[min(n, len(inc.Multipliers)-1)]
	case inc.Formula == FormulaExp:
		d = max(b, b*math.Exp(float64(n+1)*factor)/math.Exp(factor))
	default:
		d = max(b, b*float64(int64(1)<<min(n, 20))*factor)
	}
	if inc.MaxTime > 0 {
		d = min(d, float64(inc.MaxTime))
	}
	if inc.RndTime > 0 && rnd != nil {
		d += rnd() * float64(inc.RndTime)
	}
	if math.IsNaN(d) || d > float64(maxBanTime) {
		return maxBanTime
	}
	return max(time.Duration(d), time.Second)
}

// String describes the increment for status output.
func (inc *Increment) String() string {
	var parts []string
	if len(inc.Multipliers) > 0 {
		ms := make([]string, len(inc.Multipliers))
		for i, m := range inc.Multipliers {
			ms[i] = strconv.FormatFloat(m, 'g', -1, 64)
		}
		parts = append(parts, "multipliers "+strings.Join(ms, " "))
	} else if inc.Formula == FormulaExp {
		parts = append(parts, "formula exp")
	} else {
		parts = append(parts, "formula default (doubling)")
	}
	if inc.Factor != 0 && inc.Factor != 1 {
		parts = append(parts, "factor "+strconv.FormatFloat(inc.Factor, 'g', -1, 64))
	}
	if inc.MaxTime > 0 {
		parts = append(parts, "maxtime "+inc.MaxTime.String())
	}
	if inc.RndTime > 0 {
		parts = append(parts, "rndtime "+inc.RndTime.String())
	}
	if inc.OverallJails {
		parts = append(parts, "overalljails")
	}
	return strings.Join(parts, ", ")
}
