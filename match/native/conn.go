package native

import (
	"net/netip"
	"strings"
	"time"
	"unsafe"

	"github.com/logjail/logjail/match"
)

// Connection tracking. A program that handles clients in connections
// (sshd's pid, sendmail's queue id, slapd's conn=N) often writes the
// client's address on one line and the failure on another: the filter
// marks the connection id the program writes in its own header with
// <F-MLFID>, and lines of one connection share what they found. The
// semantics are fail2ban's (filter.py, _mergeFailure):
//
//   - A failure line with no address of its own takes the address the
//     connection recorded; with none recorded yet, the failure is
//     pending: it counts (once, with the lines it waited for) when a later
//     line of the connection names the address, even a <F-NOFAIL> one.
//   - A <F-NOFAIL> line records the connection's address and user; it is
//     no failure (unless failures are pending, or the connection has
//     named more than one user: then it counts).
//   - <F-MLFGAINED> (access gained: "Accepted password") is a <F-NOFAIL>
//     that also drops the connection's pending failures. Failures counted
//     already stay counted.
//   - <F-MLFFORGET> (the connection ended) forgets the connection after
//     its line.
//
// The id comes from a position the program writes (the prefregex's
// header, or a fixed place in the failregex): text a client controls
// cannot name another client's connection. The table is bounded: at most
// connTableSize connections, each dropped connTableTTL after its first
// line (by the lines' own times, so that `logjail test`, `simulate` and
// the daemon agree); when full, the oldest goes first and is counted
// (Matcher.Evicted).
const (
	connTableSize = 10_000
	connTableTTL  = 10 * time.Minute
)

// conn is what a connection's lines found so far.
type conn struct {
	key        string // in keyBuf: a line's text is not kept
	keyBuf     []byte
	at         time.Time // its first line's time
	prev, next *conn     // in the table's order, oldest first

	addr    netip.Addr
	addrID  string
	hasAddr bool
	user    string
	hasUser bool
	// firstUser and users: the users the connection named (users
	// counts up to 2: only "more than one" matters).
	firstUser string
	users     uint8
	// nofail: the last line was <F-NOFAIL> or <F-MLFGAINED>; pending:
	// a failure waits for the connection's address.
	nofail, pending bool
	// matches are the lines that make up the next failure counted;
	// nofailMatches the no-failure lines held back meanwhile.
	matches, nofailMatches int
}

func (c *conn) addUser(u string) {
	switch {
	case u == "" || c.users >= 2:
	case c.users == 0:
		c.firstUser, c.users = u, 1
	case u != c.firstUser:
		c.users = 2
	}
}

// connTable holds the connections a matcher tracks.
type connTable struct {
	max        int
	ttl        time.Duration
	byKey      map[string]*conn
	head, tail *conn
	// evicted counts the connections dropped for room before their time.
	evicted uint64
	// free holds connections removed, for new ones: sshd's log names a
	// new connection every few lines, and each cost two allocations.
	free []*conn
}

// maxFree bounds the connections kept for reuse.
const maxFree = 64

// newConn returns an empty connection of key (copied), a removed one's
// when there is one.
func (ct *connTable) newConn(key string) *conn {
	var c *conn
	if n := len(ct.free); n > 0 {
		c, ct.free = ct.free[n-1], ct.free[:n-1]
		*c = conn{keyBuf: c.keyBuf[:0]}
	} else {
		c = &conn{}
	}
	c.keyBuf = append(c.keyBuf, key...)
	c.key = unsafe.String(unsafe.SliceData(c.keyBuf), len(c.keyBuf))
	return c
}

func newConnTable(max int, ttl time.Duration) *connTable {
	return &connTable{max: max, ttl: ttl, byKey: map[string]*conn{}}
}

// get returns the connection key, nil when unknown or expired at t.
func (ct *connTable) get(key string, t time.Time) *conn {
	c := ct.byKey[key]
	if c != nil && t.Sub(c.at) >= ct.ttl {
		ct.remove(c)
		return nil
	}
	return c
}

// add adds c, first at t, dropping the expired connections and, when the
// table is full, the oldest.
func (ct *connTable) add(c *conn, t time.Time) {
	for ct.head != nil && t.Sub(ct.head.at) >= ct.ttl {
		ct.remove(ct.head)
	}
	for len(ct.byKey) >= ct.max && ct.head != nil {
		ct.remove(ct.head)
		ct.evicted++
	}
	c.at, c.prev, c.next = t, ct.tail, nil
	if ct.tail != nil {
		ct.tail.next = c
	} else {
		ct.head = c
	}
	ct.tail = c
	ct.byKey[c.key] = c
}

func (ct *connTable) remove(c *conn) {
	if ct.byKey[c.key] != c {
		return
	}
	delete(ct.byKey, c.key)
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		ct.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		ct.tail = c.prev
	}
	c.prev, c.next = nil, nil
	if len(ct.free) < maxFree {
		// Its strings may live on in failures (its address's text, its
		// user): newConn keeps none of them, only keyBuf, which only the
		// table's index read.
		ct.free = append(ct.free, c)
	}
}

// Evicted counts the connections dropped from a full table before their
// time (0 for a filter that tracks none).
func (m *Matcher) Evicted() uint64 {
	if m.conns == nil {
		return 0
	}
	return m.conns.evicted
}

// Connections returns how many connections the matcher holds.
func (m *Matcher) Connections() int {
	if m.conns == nil {
		return 0
	}
	return len(m.conns.byKey)
}

// KeepsState reports whether the matcher keeps state between lines: the
// last date (when its filter asks for it: see lastdate.go), connections or
// several lines. Then it cannot share a stream with other
// matchers in any order (see match.LineByLine): it splits (match.Splitter,
// the date in Prepare) or reads every line itself.
func (m *Matcher) KeepsState() bool { return m.tracks || m.maxLines > 1 || m.lastDate }

// merge applies a line of connection fd.id to the connection's state,
// in log order, and returns the line's outcome (see the top of the file).
func (m *Matcher) merge(fd *found) (match.Failure, match.Outcome) {
	t := fd.f.Time
	nofail := fd.out == match.NoFail || fd.gain
	gained := fd.gain
	c := m.conns.get(fd.id, t)
	if c != nil {
		wasNo := c.nofail
		if gained {
			c.pending = false
		}
		if !wasNo && !c.pending {
			c.matches = 0 // counted already
		}
		c.record(fd)
		if fd.forget {
			m.conns.remove(c)
		}
	} else if fd.forget {
		c = &m.transient // a connection of one line
		*c = conn{}
		c.record(fd)
	} else {
		nc := m.conns.newConn(fd.id)
		nc.record(fd)
		m.conns.add(nc, t)
		c = nc
	}
	if c.pending || c.users > 1 {
		// Failures wait for this line's address, or the connection
		// tried several users: no access gained, whatever it says.
		nofail, gained = false, false
	}
	c.pending, c.nofail = false, nofail
	switch {
	case !nofail:
		c.matches += c.nofailMatches + 1
		c.nofailMatches = 0
	case !fd.forget:
		c.nofailMatches++
	}
	f := fd.f
	f.Addr, f.ID = c.addr, c.addrID
	if nofail {
		f.User, f.HasUser, f.Fields = "", false, nil
		return f, match.NoFail
	}
	if !c.hasAddr {
		c.pending = true // counted once the connection names its address
		return match.Failure{}, match.NoFail
	}
	f.User, f.HasUser, f.Attempts = c.user, c.hasUser, c.matches
	return f, match.Matched
}

// record keeps what a line of the connection names (the line's values
// win), copied: a line's text is not kept.
func (c *conn) record(fd *found) {
	if fd.hasAddr {
		if !c.hasAddr || c.addrID != fd.f.ID {
			c.addrID = strings.Clone(fd.f.ID)
		}
		c.addr, c.hasAddr = fd.f.Addr, true
	}
	if fd.hasUser {
		if c.user != fd.user || !c.hasUser {
			c.user = strings.Clone(fd.user)
		}
		c.hasUser = true
		c.addUser(c.user)
	}
}
