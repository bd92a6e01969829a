package nftables

import (
	"encoding/binary"
	"errors"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// dumpBuffer is the largest message the kernel makes for a dump: it sizes
// them by the largest buffer the socket has received into, up to 32 KiB.
const dumpBuffer = 32 << 10

// widenDumps makes the kernel send this socket's dumps in messages of
// dumpBuffer bytes rather than of a page: it asks for the ruleset's
// generation and receives the answer into such a buffer. The netlink
// package receives into a page, and listing a hash set costs a walk of the
// table from its start for every message: 8 times fewer messages list a
// large set 8 times faster (BenchmarkListSet).
func widenDumps(c *netlink.Conn) error {
	req := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN), Flags: netlink.Request},
		Data:   []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0}, // nfgenmsg
	}
	if _, err := c.Send(req); err != nil {
		return err
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	buf := make([]byte, dumpBuffer)
	var n int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		n, _, _, _, rerr = unix.Recvmsg(int(fd), buf, nil, 0)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err = errors.Join(err, rerr); err != nil {
		return err
	}
	if n < unix.NLMSG_HDRLEN || binary.NativeEndian.Uint16(buf[4:]) == unix.NLMSG_ERROR {
		return errors.New("no generation in the answer")
	}
	return nil
}
