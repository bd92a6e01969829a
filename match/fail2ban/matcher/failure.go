package matcher

import (
	"container/list"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/logjail/logjail/match"
)

// IMPORTS
// f2bFailure turns the groups of a match into a failure (fail2ban's
// findFailure after the regex matched). ok is false when the regex gives
// no failure id at all (see idless), and fail2ban goes on with the next
// regex; when ok, the caller counts the regex's hit.
func (f *Matcher) failure(g map[string]string, lines, regex int, t, now time.Time) (match.Failure, match.Outcome, bool) {
	var fail *f2bFail
	mlfid, isMLF := g["mlfid"]
	if isMLF {
		fail = f.mergeFailure(mlfid, g, lines, now)
		if fail.g["nofail"] != "" {
			return match.Failure{}, match.NoFail, true
		}
	} else {
		fail = &f2bFail{g: g, matches: lines}
		if fail.g["nofail"] != "" {
			// Not a failure: fail2ban-regex and fail2ban's own tests read
			// <F-NOFAIL> so without <F-MLFID> too (fail2ban-server would
			// count the line).
			return match.Failure{}, match.NoFail, true
		}
	}
	fid, hasFID := fail.g["fid"]
	var ip string
	var have, isAddr bool
	for _, k := range []string{"ip4", "ip6", "dns"} {
		if v, ok := fail.g[k]; ok {
			ip, have, isAddr = v, true, k != "dns"
			break
		}
	}
	if !have {
		if !hasFID && !isMLF {
			return match.Failure{}, match.Miss, false // no failure id: fail2ban logs an error
		}
		ip, have = fid, hasFID
	}
	if !have {
		// A connection whose address is not known yet: pending.
		fail.pending = true
		return match.Failure{}, match.NoFail, true
	}
	id := ip
	if hasFID && fid != ip {
		id = fid
	}
	user, hasUser := fail.g[groupUser]
	fl := match.Failure{
		Pipeline: f.pipeline,
		ID:       id,
		Time:     t,
		User:     user,
		HasUser:  hasUser,
		Regex:    regex,
		Attempts: fail.matches,
	}
	fl.Fields = fields(fail.g, !isMLF)
	if len(fail.users) > 0 {
		for u := range fail.users {
			fl.Users = append(fl.Users, u)
		}
		slices.Sort(fl.Users)
	}
	if !isAddr {
		return fl, match.NoAddress, true
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil || addr.Zone() != "" {
		return fl, match.BadAddress, true
	}
	fl.Addr = addr.Unmap()
	return fl, match.Matched, true
}

// idless tells, from the groups of a match, that failure will find no
// failure id (ok false) without the connection state failure reads:
// groups without an <F-MLFID>, an <F-NOFAIL>, an address, a host name or
// an <F-ID>.
func idless(g map[string]string) bool {
	if _, isMLF := g["mlfid"]; isMLF || g["nofail"] != "" {
		return false
	}
	for _, k := range []string{"ip4", "ip6", "dns", "fid"} {
		if _, ok := g[k]; ok {
			return false
		}
	}
	return true
}

// fields returns a failure's fields: the groups but the content and the
// <SKIPLINES>; g itself when owned (the groups of one match, which nobody
// else holds), else a copy (a connection's cached groups). nil for none.
func fields(g map[string]string, owned bool) map[string]string {
	skip := func(k, _ string) bool { return k == groupContent || strings.HasPrefix(k, "skiplines") }
	if owned {
		maps.DeleteFunc(g, skip)
		if len(g) == 0 {
			return nil
		}
		return g
	}
	if len(g) == 0 {
		return nil
	}
	out := make(map[string]string, len(g))
	for k, v := range g {
		if !skip(k, v) {
			out[k] = v
		}
	}
	return out
}

// f2bFail is the data of a failure being merged across the lines of one
// connection (fail2ban's "fail" dict with its users, matches and pending
// marks).
type f2bFail struct {
	g             map[string]string
	users         map[string]bool
	matches       int // lines that count
	nofailMatches int // lines held back while the connection is in a no-failure state
	pending       bool
}

func (x *f2bFail) addUser(u string) map[string]bool {
	if u != "" {
		if len(x.users) == 0 {
			x.users = map[string]bool{}
		}
		x.users[u] = true
	}
	return x.users
}

// Flags of a merge, as fail2ban names them.
const (
	mlfNoFail = 1
	mlfForget = 2
	mlfWasNo  = 4 // the cached connection was in a no-failure state
	mlfGained = 8
)

// mergeFailure merges the groups of a match into the cached data of its
// connection (fail2ban's _mergeFailure).
func (f *Matcher) mergeFailure(mlfid string, g map[string]string, lines int, now time.Time) *f2bFail {
	if f.mlf == nil {
		f.mlf = newMLFCache(mlfCacheSize, mlfCacheTTL)
	}
	cached := f.mlf.get(mlfid, now)
	var users map[string]bool
	fl := 0
	if g["mlfgained"] != "" {
		fl |= mlfGained | mlfNoFail
		if g["nofail"] == "" {
			g["nofail"] = g["mlfgained"]
		}
	} else if g["nofail"] != "" {
		fl |= mlfNoFail
	}
	if g["mlfforget"] != "" {
		fl |= mlfForget
	}
	delete(g, "mlfforget")
	var fail *f2bFail
	switch {
	case cached != nil:
		users = cached.addUser(g[groupUser])
		if v, ok := cached.g["nofail"]; ok {
			delete(cached.g, "nofail")
			if v != "" {
				fl |= mlfWasNo
			}
		}
		if v, ok := cached.g["mlfgained"]; ok {
			delete(cached.g, "mlfgained")
			if v != "" {
				fl |= mlfWasNo
			}
		}
		if fl&mlfGained != 0 {
			cached.pending = false
		}
		if fl&mlfWasNo == 0 && !cached.pending {
			cached.matches = 0
		}
		for k, v := range g {
			cached.g[k] = v
		}
		fail = cached
		if fl&mlfForget != 0 {
			f.mlf.unset(mlfid)
		}
	case fl&mlfForget == 0:
		fail = &f2bFail{g: g}
		users = fail.addUser(g[groupUser])
		f.mlf.set(mlfid, fail, now)
	default:
		fail = &f2bFail{g: g}
	}
	pending := fail.pending
	fail.pending = false
	if pending || len(users) > 1 {
		delete(fail.g, "nofail")
		delete(fail.g, "mlfgained")
		fl &^= mlfGained | mlfNoFail
	}
	if fl&mlfNoFail == 0 {
		n := fail.nofailMatches + fail.matches
		fail.nofailMatches = 0
		if fl&mlfGained == 0 {
			n += lines
		}
		fail.matches = n
	} else if fl&(mlfNoFail|mlfForget) == mlfNoFail {
		fail.nofailMatches += lines
	}
	return fail
}

// The connection cache of <F-MLFID>, bounded as fail2ban's: at most 100
// connections, each forgotten 5 minutes after its first line.
const (
	mlfCacheSize = 100
	mlfCacheTTL  = 5 * time.Minute
)

type mlfEntry struct {
	key     string
	fail    *f2bFail
	expires time.Time
}

type mlfCache struct {
	max   int
	ttl   time.Duration
	order *list.List // oldest first
	byKey map[string]*list.Element
}

func newMLFCache(n int, ttl time.Duration) *mlfCache {
	return &mlfCache{max: n, ttl: ttl, order: list.New(), byKey: map[string]*list.Element{}}
}

func (c *mlfCache) get(k string, now time.Time) *f2bFail {
	el, ok := c.byKey[k]
	if !ok {
		return nil
	}
	e := el.Value.(*mlfEntry)
	if e.expires.After(now) {
		return e.fail
	}
	c.unset(k)
	return nil
}

func (c *mlfCache) set(k string, v *f2bFail, now time.Time) {
	if c.order.Len() >= c.max {
		// Drop the oldest, and any expired after it, until there is room.
		for c.order.Len() > 0 {
			el := c.order.Front()
			e := el.Value.(*mlfEntry)
			c.order.Remove(el)
			delete(c.byKey, e.key)
			if e.expires.After(now) && c.order.Len() < c.max {
				break
			}
		}
	}
	if el, ok := c.byKey[k]; ok {
		e := el.Value.(*mlfEntry)
		e.fail, e.expires = v, now.Add(c.ttl)
		return
	}
	c.byKey[k] = c.order.PushBack(&mlfEntry{key: k, fail: v, expires: now.Add(c.ttl)})
}

func (c *mlfCache) unset(k string) {
	if el, ok := c.byKey[k]; ok {
		c.order.Remove(el)
		delete(c.byKey, k)
	}
}
