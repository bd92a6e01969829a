package nftables

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The kernel numbers the committed nftables transactions of a network
// namespace: the ruleset's generation (NFT_MSG_GETGEN). No table, chain,
// rule, set or element changes without a new generation, so a Check that
// found the table as Setup built it stays true while the generation does.
// Check remembers that generation and, while it holds, asks only for it:
// one request every 2 s instead of a dozen dumps with every rule rendered,
// which was most of what an idle daemon did. (Elements that time out leave
// the generation as it is; Check does not compare elements.)

// generation reads the ruleset's generation.
func (f *Firewall) generation(ctx context.Context) (uint32, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: f.netns})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(opTimeout)
	}
	if err := c.SetDeadline(deadline); err != nil {
		return 0, err
	}
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
			Flags: netlink.Request,
		},
		Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0}, // nfgenmsg: family, version, resource id
	})
	if err != nil {
		return 0, err
	}
	if len(msgs) != 1 || len(msgs[0].Data) < 4 {
		return 0, errors.New("nftables: unexpected answer to GETGEN")
	}
	ad, err := netlink.NewAttributeDecoder(msgs[0].Data[4:])
	if err != nil {
		return 0, err
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		if ad.Type() == unix.NFTA_GEN_ID {
			return ad.Uint32(), ad.Err()
		}
	}
	return 0, fmt.Errorf("nftables: GETGEN answer without an id (%v)", ad.Err())
}
