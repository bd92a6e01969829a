package pipelines

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Permanent is the bantime that never expires (fail2ban's -1).
const Permanent time.Duration = -1

// fail2ban's units: a month is a twelfth of an average year (365.25 days), so
// "1y" equals "12mo", and fail2ban configurations mean the same here.
const (
	day   = 24 * time.Hour
	year  = time.Duration(365.25 * float64(day))
	month = year / 12
)

var units = map[string]time.Duration{
	"ms": time.Millisecond,
	"s":  time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": day, "day": day, "days": day,
	"w": 7 * day, "week": 7 * day, "weeks": 7 * day,
	"mo": month, "mon": month, "month": month, "months": month,
	"y": year, "year": year, "years": year,
}

// ParseDuration reads a duration as fail2ban writes them: a plain number of
// seconds ("600"), a number with a unit ("10m", "1d", "2w", "1mo", "1y"), or a
// sum of such terms ("1h30m", "1d 12h", "1y-6mo"). "-1" is Permanent, and
// so is "permanent", which FormatDuration writes for it (logjail get's
// answer can be given back to set).
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if in == "-1" || in == "permanent" {
		return Permanent, nil
	}
	var total float64
	rest := in
	for rest != "" {
		rest = strings.TrimLeft(rest, " ")
		sign := 1.0
		if rest != "" && (rest[0] == '+' || rest[0] == '-') {
			if rest[0] == '-' {
				sign = -1
			}
			rest = strings.TrimLeft(rest[1:], " ")
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q: expected a number at %q", s, rest)
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %v", s, err)
		}
		rest = strings.TrimLeft(rest[i:], " ")
		j := 0
		for j < len(rest) && (rest[j] >= 'a' && rest[j] <= 'z' || rest[j] >= 'A' && rest[j] <= 'Z') {
			j++
		}
		unit := time.Second
		if j > 0 {
			u, ok := units[strings.ToLower(rest[:j])]
			if !ok {
				return 0, fmt.Errorf("invalid duration %q: unknown unit %q (use ms s m h d w mo y)", s, rest[:j])
			}
			unit = u
		}
		rest = rest[j:]
		total += sign * n * float64(unit)
	}
	if total <= 0 {
		return 0, fmt.Errorf("invalid duration %q: must be positive", s)
	}
	if total > float64(100*year) {
		return 0, fmt.Errorf("invalid duration %q: longer than 100 years; use -1 for permanent", s)
	}
	return time.Duration(total), nil
}

// FormatDuration writes d in the largest units that divide it ("1h", "2w", "permanent").
func FormatDuration(d time.Duration) string {
	if d == Permanent {
		return "permanent"
	}
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"w", 7 * day}, {"d", day}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	if b.Len() == 0 {
		return d.String()
	}
	return b.String()
}
