package daemon

import (
	"log/slog"
	"syscall"

	"github.com/logjail/logjail/ingest/file"
)

// fdReserve is how many descriptors file sources leave to the rest of
// logjail: the firewall's netlink sockets, the control socket and its
// clients, the store, listeners and NATS connections. A quarter of the
// limit, and at least minFDReserve.
const minFDReserve = 64

// fileBudget raises the soft limit on open files to the hard limit and
// returns the descriptor budget the file sources share: the limit less
// the reserve, so that a glob matching more files than the limit cannot
// leave the firewall without a socket (bans decided but not enforced) or
// the control socket unable to accept.
func fileBudget(log *slog.Logger) *file.Budget {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot read the open files limit; file sources unbounded by it", "err", err)
		return nil
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			log.Warn("cannot raise the open files limit", "from", lim.Cur, "to", lim.Max, "err", err)
		} else {
			lim = raised
		}
	}
	n := fdBudget(lim.Cur)
	log.Info("open files", "limit", lim.Cur, "file sources may use", n)
	return file.NewBudget(n)
}

// fdBudget is the file sources' share of limit descriptors.
func fdBudget(limit uint64) int {
	reserve := max(limit/4, minFDReserve)
	if limit <= reserve {
		return 0
	}
	return int(min(limit-reserve, 1<<30))
}
