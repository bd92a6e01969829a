package match

import (
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match/f2bdate"
	"github.com/logjail/logjail/match/pyre"
)

// The fail2ban dialect: fail2ban's filters run as fail2ban runs them
// (server/filter.py, processLine and findFailure):
//
//   - the date is found by fail2ban's templates and cut out of the line;
//     a line without a date takes the last date if it is less than 60 s
//     older than now;
//   - the line, plus "\n", must match prefregex; its <F-CONTENT>, when not
//     empty, is what the failregexes see;
//   - the first failregex that matches decides, unless an ignoreregex
//     matches too (fail2ban checks the ignoreregexes first, on the whole
//     line, when there are fewer of them than failregexes minus two);
//   - with maxlines > 1 the failregexes see the last maxlines lines joined
//     by "\n" (with ^ and $ at each line), and the lines of a match leave
//     the buffer;
//   - <F-MLFID> names a connection: the captures of its lines merge, a
//     failure without an address takes it from an earlier line, and
//     <F-NOFAIL>, <F-MLFFORGET>, <F-MLFGAINED> steer which lines count.

// f2bRegex is one compiled fail2ban regex.
type f2bRegex struct {
	re      *pyre.Regexp
	site    RegexSite // where the regex is in the filter, for timeout reports
	src     string
	names   []string
	prefix  []byte // literal text every match starts with
	skip    []int  // <SKIPLINES> groups
	alt     []altGroup
	content int // the <F-CONTENT> group, or -1
}

// altGroup is an <F-ALT_NAME…> group: its value stands in for NAME when
// NAME captured nothing.
type altGroup struct {
	group  int
	target string
}

// errNoFailureID: a fail2ban failregex must capture a failure id.
var errNoFailureID = fmt.Errorf("%w, nor <F-ID>, <F-MLFID> or a group ip4, ip6, dns, fid", ErrNoAddress)

// f2bIDGroups are the groups that give a failure its id.
var f2bIDGroups = []string{"fid", "ip4", "ip6", "dns", "mlfid"}

func compileF2B(src string, multiline, lines bool, timeout time.Duration) (*f2bRegex, error) {
	expr := globalToLocalFlags(expandF2BTags(src))
	if strings.TrimSpace(expr) == "" {
		return nil, errors.New("empty regex")
	}
	re, err := pyre.Compile(expr, pyre.Options{Multiline: multiline, Lines: lines, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	r := &f2bRegex{re: re, src: src, names: re.SubexpNames()}
	if p := re.LiteralPrefix(); p != "" {
		r.prefix = []byte(p)
	}
	r.skip = skipGroups(r.names)
	r.content = re.SubexpIndex(groupContent)
	var alts []string
	for _, n := range r.names {
		if strings.HasPrefix(n, "alt_") && len(n) > len("alt_") {
			alts = append(alts, n)
		}
	}
	slices.Sort(alts)
	for _, n := range alts {
		target := strings.TrimPrefix(n, "alt_")
		// alt_user_1 → user
		if i := strings.LastIndexByte(target, '_'); i > 0 && allDigits(target[i+1:]) {
			target = target[:i]
		}
		r.alt = append(r.alt, altGroup{group: re.SubexpIndex(n), target: f2bGroupName(target)})
	}
	return r, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (r *f2bRegex) has(name string) bool {
	return slices.Contains(r.names[1:], name)
}

// groups merges the named groups of a match into into, as fail2ban
// updates the prefregex's groups with the failregex's: a group that took
// part sets its value (possibly empty), one that took no part removes the
// name. An alt_NAME group stands in for an empty NAME of the same regex.
func (r *f2bRegex) groups(text string, loc []int, into map[string]string) {
	val := func(i int) (string, bool) {
		if i <= 0 || loc[2*i] < 0 {
			return "", false
		}
		return text[loc[2*i]:loc[2*i+1]], true
	}
	for i, n := range r.names {
		if i == 0 || n == "" {
			continue
		}
		if v, ok := val(i); ok {
			into[n] = v
		} else {
			delete(into, n)
		}
	}
	var assigned map[string]bool // targets an earlier alt_ group filled
	for _, a := range r.alt {
		v, _ := val(a.group)
		if v == "" {
			continue
		}
		cur := ""
		if t := r.index(a.target); t > 0 {
			cur, _ = val(t)
		}
		if cur == "" && !assigned[a.target] {
			into[a.target] = v
			if assigned == nil {
				assigned = map[string]bool{}
			}
			assigned[a.target] = true
		}
	}
}

func (r *f2bRegex) index(name string) int {
	for i, n := range r.names {
		if i > 0 && n == name {
			return i
		}
	}
	return -1
}

// f2bMatcher is the state of a fail2ban-dialect matcher.
type f2bMatcher struct {
	pref     *f2bRegex
	fail     []*f2bRegex
	ignore   []*f2bRegex
	maxLines int
	dates    *f2bdate.Detector
	buf      []byte
	buf2     []byte
	lines    []string // multi-line buffer (text of each line, date cut)
	lastDate time.Time
	haveLast bool
	mlf      *mlfCache
	timeouts uint64
	// failTimeouts counts timeouts per failregex.
	failTimeouts []uint64
	// lastTimeout is where the last timeout happened.
	lastTimeout RegexSite
}

func compileF2BRules(r Rules, loc *time.Location) (*f2bMatcher, []error) {
	var errs []error
	f := &f2bMatcher{maxLines: max(r.MaxLines, 1)}
	multi := f.maxLines > 1
	if r.Prefregex != "" {
		p, err := compileF2B(r.Prefregex, false, multi, r.Timeout)
		if err != nil {
			errs = append(errs, &RegexError{List: "prefregex", Err: err})
		}
		if p != nil {
			p.site = RegexSite{List: "prefregex"}
		}
		f.pref = p
	}
	if len(r.Failregex) == 0 {
		errs = append(errs, &RegexError{List: "failregex", Err: errors.New("no failregex given")})
	}
	for i, s := range r.Failregex {
		fr, err := compileF2B(s, multi, multi, r.Timeout)
		if err == nil && !hasIDGroup(fr) && (f.pref == nil || !hasIDGroup(f.pref)) {
			err = errNoFailureID
		}
		if err != nil {
			errs = append(errs, &RegexError{List: "failregex", Index: i, Err: err})
			continue
		}
		fr.site = RegexSite{List: "failregex", Index: i}
		f.fail = append(f.fail, fr)
	}
	for i, s := range r.Ignoreregex {
		ir, err := compileF2B(s, false, multi, r.Timeout)
		if err != nil {
			errs = append(errs, &RegexError{List: "ignoreregex", Index: i, Err: err})
			continue
		}
		ir.site = RegexSite{List: "ignoreregex", Index: i}
		f.ignore = append(f.ignore, ir)
	}
	d, err := f2bdate.New(r.Datepattern, loc, time.Time{})
	if err != nil {
		errs = append(errs, &RegexError{List: "datepattern", Err: err})
	}
	f.dates = d
	f.failTimeouts = make([]uint64, len(f.fail))
	return f, errs
}

func hasIDGroup(r *f2bRegex) bool {
	for _, g := range f2bIDGroups {
		if r.has(g) {
			return true
		}
	}
	return false
}

// search runs r over text (ASCII or not); a timeout is counted and
// searches no further (no match).
func (f *f2bMatcher) search(r *f2bRegex, text []byte, ascii bool) []int {
	if !bytes.HasPrefix(text, r.prefix) {
		return nil
	}
	loc, err := r.re.FindSubmatchIndexHint(text, ascii)
	if err != nil {
		f.timedOut(r)
		return nil
	}
	return loc
}

func (f *f2bMatcher) matches(r *f2bRegex, text []byte, ascii bool) bool {
	if !bytes.HasPrefix(text, r.prefix) {
		return false
	}
	ok, err := r.re.MatchHint(text, ascii)
	if err != nil {
		f.timedOut(r)
	}
	return ok
}

func (f *f2bMatcher) timedOut(r *f2bRegex) {
	f.timeouts++
	f.lastTimeout = r.site
	if r.site.List == "failregex" {
		f.failTimeouts[r.site.Index]++
	}
}

// allTimeouts counts the regexes' and the date templates' timeouts.
func (f *f2bMatcher) allTimeouts() uint64 { return f.timeouts + f.dates.Timeouts }

// recent tells whether the last date seen is less than 60 s older than now.
func (f *f2bMatcher) recent(now time.Time) bool {
	return f.haveLast && f.lastDate.After(now.Add(-60*time.Second))
}

// matchF2B is matchF2BLine, with Timeout for a line that matched nothing
// because a regex ran out of time on it.
func (m *Matcher) matchF2B(e *ingest.Entry, now time.Time) (Failure, Outcome) {
	f := m.f2b
	before, dateBefore := f.allTimeouts(), f.dates.Timeouts
	fl, out := m.matchF2BLine(e, now)
	if f.dates.Timeouts != dateBefore {
		f.lastTimeout = RegexSite{List: "datepattern"}
	}
	if out == Miss && f.allTimeouts() != before {
		out = Timeout
	}
	return fl, out
}

func (m *Matcher) matchF2BLine(e *ingest.Entry, now time.Time) (Failure, Outcome) {
	f := m.f2b
	line := e.Message
	ascii := pyre.IsASCII(line)
	pre, post := "", line
	var t time.Time
	dated := false
	if !e.Time.IsZero() {
		// The source knows the time (journal, syslog): no date parsing.
		t, dated = e.Time, true
		f.lastDate, f.haveLast = t, true
	} else {
		r := f.dates.Find(line, now)
		if r.Found {
			if r.Start < r.End {
				pre, post = line[:r.Start], line[r.End:]
				if r.OK {
					t, dated = r.Time, true
					f.lastDate, f.haveLast = t, true
					m.DateHits[r.Template]++
				}
			} else {
				// The template matched no text ({NONE}): the last date or now.
				if f.recent(now) {
					t = f.lastDate
				} else {
					t = readTime(e, now)
				}
				dated = true
			}
		}
		if !dated {
			if f.recent(now) {
				t = f.lastDate
			} else {
				t = readTime(e, now)
			}
		}
	}
	if f.maxLines > 1 {
		return m.f2bMulti(e, pre+post, t, now)
	}
	// One line: the text is pre+post+"\n", built without allocating.
	f.buf = append(append(append(f.buf[:0], pre...), post...), '\n')
	buf := f.buf
	if len(f.ignore) > 0 && len(f.ignore) < len(f.fail)-2 {
		for _, ig := range f.ignore {
			if f.matches(ig, buf, ascii) {
				return Failure{}, Ignored
			}
		}
	}
	content := buf
	var preLoc []int
	if f.pref != nil {
		preLoc = f.search(f.pref, buf, ascii)
		if preLoc == nil {
			return Failure{}, Miss
		}
		if ci := f.pref.content; ci > 0 && preLoc[2*ci] >= 0 && preLoc[2*ci+1] > preLoc[2*ci] {
			f.buf2 = append(append(f.buf2[:0], buf[preLoc[2*ci]:preLoc[2*ci+1]]...), '\n')
			content = f.buf2
		}
	}
	for i, fr := range f.fail {
		loc := f.search(fr, content, ascii)
		if loc == nil {
			continue
		}
		for _, ig := range f.ignore {
			if f.matches(ig, content, ascii) {
				return Failure{}, Ignored
			}
		}
		g := map[string]string{}
		if preLoc != nil {
			f.pref.groups(string(buf), preLoc, g)
			delete(g, groupContent)
		}
		fr.groups(string(content), loc, g)
		fl, out, ok := m.f2bFailure(g, 1, i, t, now)
		if !ok {
			continue
		}
		fl.Line, fl.Pos = line, e.Pos
		return fl, out
	}
	return Failure{}, Miss
}

func readTime(e *ingest.Entry, now time.Time) time.Time {
	if !e.ReadAt.IsZero() {
		return e.ReadAt
	}
	return now
}

// f2bMulti matches with a buffer of the last maxlines lines.
func (m *Matcher) f2bMulti(e *ingest.Entry, text string, t, now time.Time) (Failure, Outcome) {
	f := m.f2b
	f.lines = append(f.lines, text)
	if n := len(f.lines); n > f.maxLines {
		f.lines = append(f.lines[:0:0], f.lines[n-f.maxLines:]...)
	}
	org := f.lines
	buf := joinLines(org)
	ascii := pyre.IsASCII(buf) // the buffer holds earlier lines too
	if len(f.ignore) > 0 && len(f.ignore) < len(f.fail)-2 {
		for _, ig := range f.ignore {
			if f.matches(ig, []byte(buf), ascii) {
				return Failure{}, Ignored
			}
		}
	}
	var preLoc []int
	preText := buf
	if f.pref != nil {
		preLoc = f.search(f.pref, []byte(buf), ascii)
		if preLoc == nil {
			return Failure{}, Miss
		}
		if ci := f.pref.content; ci > 0 && preLoc[2*ci] >= 0 && preLoc[2*ci+1] > preLoc[2*ci] {
			f.lines = []string{buf[preLoc[2*ci]:preLoc[2*ci+1]]}
			buf = ""
		}
	}
	for i, fr := range f.fail {
		if buf == "" {
			buf = joinLines(f.lines)
		}
		loc := f.search(fr, []byte(buf), ascii)
		if loc == nil {
			continue
		}
		matched, unmatched := splitMatch(fr, buf, loc, org)
		if len(f.ignore) > 0 {
			mb := []byte(joinLines(matched))
			for _, ig := range f.ignore {
				if f.matches(ig, mb, ascii) {
					f.lines = unmatched
					return Failure{}, Ignored
				}
			}
		}
		ranOn := buf
		f.lines, buf = unmatched, ""
		g := map[string]string{}
		if preLoc != nil {
			f.pref.groups(preText, preLoc, g)
			delete(g, groupContent)
		}
		fr.groups(ranOn, loc, g)
		fl, out, ok := m.f2bFailure(g, len(matched), i, t, now)
		if !ok {
			continue
		}
		fl.Line, fl.Pos = e.Message, e.Pos
		return fl, out
	}
	return Failure{}, Miss
}

func joinLines(lines []string) string {
	return strings.Join(lines, "\n") + "\n"
}

// splitMatch returns the lines a multi-line match covers (without those
// its <SKIPLINES> skipped) and the lines left in the buffer.
func splitMatch(fr *f2bRegex, buf string, loc []int, org []string) (matched, unmatched []string) {
	if len(org) <= 1 {
		return org, nil
	}
	start, end := loc[0], loc[1]
	lineStart := strings.LastIndexByte(buf[:min(start+1, len(buf))], '\n') + 1
	from := end - 1
	if from < 0 {
		from = len(buf) - 1
	}
	lineEnd := len(buf)
	if k := strings.IndexByte(buf[from:], '\n'); k >= 0 {
		lineEnd = from + k + 1
	}
	n1 := strings.Count(buf[:lineStart], "\n")
	n2 := strings.Count(buf[:lineEnd], "\n")
	n1, n2 = min(n1, len(org)), min(n2, len(org))
	matched = append([]string(nil), org[n1:n2]...)
	unmatched = append([]string(nil), org[:n1]...)
	var skipped []string
	for _, g := range fr.skip {
		if loc[2*g] >= 0 {
			skipped = append(skipped, buf[loc[2*g]:loc[2*g+1]])
		}
	}
	if len(skipped) > 0 {
		n := 0
		for _, sl := range splitLines(strings.Join(skipped, "")) {
			for k := n; k < len(matched); k++ {
				if matched[k] == sl {
					unmatched = append(unmatched, matched[k])
					matched = append(matched[:k], matched[k+1:]...)
					n = k
					break
				}
			}
		}
	}
	unmatched = append(unmatched, org[n2:]...)
	return matched, unmatched
}

// splitLines splits like Python's str.splitlines() for "\n"-joined text.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}

// f2bFailure turns the groups of a match into a failure (fail2ban's
// findFailure after the regex matched). ok is false when the regex gives
// no failure id at all, and fail2ban goes on with the next regex.
func (m *Matcher) f2bFailure(g map[string]string, lines, regex int, t, now time.Time) (Failure, Outcome, bool) {
	f := m.f2b
	var fail *f2bFail
	mlfid, isMLF := g["mlfid"]
	if isMLF {
		fail = f.mergeFailure(mlfid, g, lines, now)
		if fail.g["nofail"] != "" {
			m.Hits[regex]++
			return Failure{}, NoFail, true
		}
	} else {
		fail = &f2bFail{g: g, matches: lines}
		if fail.g["nofail"] != "" {
			// Not a failure: fail2ban-regex and fail2ban's own tests read
			// <F-NOFAIL> so without <F-MLFID> too (fail2ban-server would
			// count the line).
			m.Hits[regex]++
			return Failure{}, NoFail, true
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
			return Failure{}, Miss, false // no failure id: fail2ban logs an error
		}
		ip, have = fid, hasFID
	}
	if !have {
		// A connection whose address is not known yet: pending.
		fail.pending = true
		m.Hits[regex]++
		return Failure{}, NoFail, true
	}
	id := ip
	if hasFID && fid != ip {
		id = fid
	}
	user, hasUser := fail.g[groupUser]
	fl := Failure{
		Pipeline: m.pipeline,
		ID:       id,
		Time:     t,
		User:     user,
		HasUser:  hasUser,
		Regex:    regex,
		Attempts: fail.matches,
	}
	if len(fail.g) > 0 {
		fl.Fields = make(map[string]string, len(fail.g))
		for k, v := range fail.g {
			if k != groupContent && !strings.HasPrefix(k, "skiplines") {
				fl.Fields[k] = v
			}
		}
	}
	if len(fail.users) > 0 {
		for u := range fail.users {
			fl.Users = append(fl.Users, u)
		}
		slices.Sort(fl.Users)
	}
	m.Hits[regex]++
	if !isAddr {
		return fl, NoAddress, true
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil || addr.Zone() != "" {
		return fl, BadAddress, true
	}
	fl.Addr = addr.Unmap()
	return fl, Matched, true
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
func (f *f2bMatcher) mergeFailure(mlfid string, g map[string]string, lines int, now time.Time) *f2bFail {
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
