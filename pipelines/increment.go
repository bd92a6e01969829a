package pipelines

import (
	"strconv"
	"strings"
	"time"

	"github.com/logjail/logjail/state"
)

// Bounds of bantime_increment.
const (
	maxFactor      = 1000
	maxMultipliers = 100
	maxMultiplier  = 1e6
)

// fail2ban's documented formulas, spaces removed, as a fail2ban
// configuration writes them.
var fail2banFormulas = map[string]state.Formula{
	"ban.Time*(1<<(ban.Countifban.Count<20else20))*banFactor":               state.FormulaDefault,
	"ban.Time*math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)": state.FormulaExp,
}

// increment checks bantime_increment and returns its policy.
func (v validator) increment(name string, inc *IncrementSpec) state.Increment {
	r := state.Increment{Factor: 1, OverallJails: inc.OverallJails}
	if inc.Factor.S != "" {
		f, err := strconv.ParseFloat(strings.TrimSpace(inc.Factor.S), 64)
		if err != nil || !(f > 0 && f <= maxFactor) {
			v.fail(inc.Factor.At, "%s.factor: %q is not a number above 0 and at most %d", name, inc.Factor.S, maxFactor)
		}
		r.Factor = f
	}
	switch f := inc.Formula.S; strings.TrimSpace(f) {
	case "", "default":
		r.Formula = state.FormulaDefault
	case "exp":
		r.Formula = state.FormulaExp
	default:
		formula, ok := fail2banFormulas[strings.Join(strings.Fields(f), "")]
		if !ok {
			v.fail(inc.Formula.At, "%s.formula: %q: logjail evaluates no Python; use default, exp, or multipliers", name, f)
		}
		r.Formula = formula
	}
	for _, m := range inc.Multipliers {
		// fail2ban writes them as one string: "1 2 4 8 16 32 64".
		fields := strings.FieldsFunc(m.S, func(c rune) bool { return c == ' ' || c == ',' || c == '\t' })
		if len(fields) == 0 {
			v.fail(m.At, "%s.multipliers: an empty multiplier", name)
		}
		for _, x := range fields {
			f, err := strconv.ParseFloat(x, 64)
			if err != nil || !(f > 0 && f <= maxMultiplier) {
				v.fail(m.At, "%s.multipliers: %q is not a number above 0 and at most %g", name, x, float64(maxMultiplier))
				continue
			}
			r.Multipliers = append(r.Multipliers, f)
		}
	}
	if len(r.Multipliers) > maxMultipliers {
		v.fail(inc.At, "%s.multipliers: %d values; at most %d (the last one repeats)", name, len(r.Multipliers), maxMultipliers)
	}
	for _, d := range []struct {
		key  string
		text Text
		to   *time.Duration
	}{{"maxtime", inc.MaxTime, &r.MaxTime}, {"rndtime", inc.RndTime, &r.RndTime}} {
		if d.text.S == "" {
			continue
		}
		dur, err := ParseDuration(d.text.S)
		switch {
		case err != nil:
			v.fail(d.text.At, "%s.%s: %v", name, d.key, err)
		case dur == Permanent:
			v.fail(d.text.At, "%s.%s cannot be -1 (permanent)", name, d.key)
		default:
			*d.to = dur
		}
	}
	return r
}
