package file

import "sync/atomic"

// Budget is a number of file descriptors shared by file sources, so that
// together they cannot take the descriptors the rest of logjail needs (the
// firewall's netlink sockets, the control socket, the store). A nil Budget
// is unlimited.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// NewBudget returns a budget of n descriptors (none when n <= 0).
func NewBudget(n int) *Budget { return &Budget{limit: int64(max(n, 0))} }

// Limit returns the budget's size.
func (b *Budget) Limit() int {
	if b == nil {
		return -1
	}
	return int(b.limit)
}

// Used returns the descriptors taken now.
func (b *Budget) Used() int {
	if b == nil {
		return 0
	}
	return int(b.used.Load())
}

// take reserves one descriptor; it reports false when none is left.
func (b *Budget) take() bool {
	if b == nil {
		return true
	}
	for {
		n := b.used.Load()
		if n >= b.limit {
			return false
		}
		if b.used.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// give returns a descriptor taken before.
func (b *Budget) give() {
	if b != nil {
		b.used.Add(-1)
	}
}
