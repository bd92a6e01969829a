package gate

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Host is this host's addresses, followed live: the kernel's address
// events (RTM_NEWADDR, RTM_DELADDR) wake it and it reads the addresses
// again, so an address added after start is protected at once, without a
// reload. Its network namespace is the one of the thread that called
// WatchHost.
type Host struct {
	set    Set
	events *netlink.Conn // subscribed to the address groups
	dump   *netlink.Conn // reads the address table

	started bool
	onError func(error)
	closing atomic.Bool
	mu      sync.Mutex
	err     error // the last failure to follow; nil while following
	done    chan struct{}
}

var _ Addresses = (*Host)(nil)

// WatchHost reads this host's addresses and follows their changes until
// Close. onError, when set, hears every failure to follow them (the last
// addresses read stay in force meanwhile).
func WatchHost(onError func(error)) (*Host, error) {
	events, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{Groups: unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR})
	if err != nil {
		return nil, fmt.Errorf("following the host's addresses (netlink): %w", err)
	}
	dump, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		events.Close()
		return nil, fmt.Errorf("reading the host's addresses (netlink): %w", err)
	}
	h := &Host{events: events, dump: dump, done: make(chan struct{}), onError: onError}
	// Subscribed before the first read: a change in between wakes the
	// loop, which reads again.
	if err := h.refresh(); err != nil {
		h.Close()
		return nil, err
	}
	h.started = true
	go h.follow()
	return h, nil
}

// Overlaps implements Addresses.
func (h *Host) Overlaps(p netip.Prefix) bool { return h.set.Overlaps(p) }

// Prefixes are the host's addresses now, as single-address prefixes.
func (h *Host) Prefixes() []netip.Prefix { return h.set.Prefixes() }

// Err is the last failure to read the addresses; nil while they are
// followed.
func (h *Host) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// Close stops following.
func (h *Host) Close() error {
	h.closing.Store(true)
	err := h.events.Close()
	if h.started {
		<-h.done
	}
	h.dump.Close()
	return err
}

func (h *Host) follow() {
	defer close(h.done)
	for {
		_, err := h.events.Receive()
		var oe *netlink.OpError
		if err != nil && !(errors.As(err, &oe) && errors.Is(oe.Err, unix.ENOBUFS)) {
			// Closed (logjail stops), or broken: keep the last set.
			h.setErr(err)
			return
		}
		// An event, or events lost (ENOBUFS): read the table again.
		h.setErr(h.refresh())
	}
}

func (h *Host) setErr(err error) {
	if h.closing.Load() {
		return
	}
	h.mu.Lock()
	h.err = err
	h.mu.Unlock()
	if err != nil && h.onError != nil {
		h.onError(err)
	}
}

func (h *Host) refresh() error {
	ps, err := dumpAddrs(h.dump)
	if err != nil {
		return err
	}
	h.set.Store(ps)
	return nil
}

// HostNow reads this host's addresses once (for a pipeline built outside
// the daemon, e.g. by tests or logjail validate).
func HostNow() (*Set, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the host's addresses (netlink): %w", err)
	}
	defer c.Close()
	ps, err := dumpAddrs(c)
	if err != nil {
		return nil, err
	}
	return NewSet(ps...), nil
}

// dumpAddrs reads every address of every interface (RTM_GETADDR).
func dumpAddrs(c *netlink.Conn) ([]netip.Prefix, error) {
	req := netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETADDR, Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, unix.SizeofIfAddrmsg), // family AF_UNSPEC: both
	}
	msgs, err := c.Execute(req)
	if err != nil {
		return nil, fmt.Errorf("reading the host's addresses (netlink): %w", err)
	}
	var out []netip.Prefix
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
			continue
		}
		if a, ok := ifAddr(m.Data); ok {
			out = append(out, Single(a))
		}
	}
	return out, nil
}

// ifAddr reads an address message: the local address (IFA_LOCAL; on a
// point-to-point link IFA_ADDRESS is the peer's), else IFA_ADDRESS.
func ifAddr(data []byte) (netip.Addr, bool) {
	ad, err := netlink.NewAttributeDecoder(data[unix.SizeofIfAddrmsg:])
	if err != nil {
		return netip.Addr{}, false
	}
	var local, addr netip.Addr
	for ad.Next() {
		switch ad.Type() {
		case unix.IFA_LOCAL:
			local, _ = netip.AddrFromSlice(ad.Bytes())
		case unix.IFA_ADDRESS:
			addr, _ = netip.AddrFromSlice(ad.Bytes())
		}
	}
	if local.IsValid() {
		return local, true
	}
	return addr, addr.IsValid()
}
