package ingest

import "time"

// StampYear places a timestamp that carries no year and no zone (RFC 3164's
// "Mmm dd hh:mm:ss"; only its month, day and clock are used) in loc and in
// the latest year that does not put it more than a week after now: a record
// from Dec 31 received on Jan 1 belongs to the old year, one from a sender
// whose clock runs a little ahead across New Year to the new one. Feb 29
// with no leap year near now gives now.
func StampYear(t, now time.Time, loc *time.Location) time.Time {
	now = now.In(loc)
	for y := now.Year() + 1; y >= now.Year()-1; y-- {
		c := time.Date(y, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
		if c.Month() != t.Month() { // Feb 29 in a common year
			continue
		}
		if c.Sub(now) <= stampAhead {
			return c
		}
	}
	return now
}

// stampAhead is how far in the future a year-less timestamp may lie.
const stampAhead = 7 * 24 * time.Hour
