package daemon

import (
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/logjail/logjail/state"
)

// AddrBans is one asked address in `logjail banned ADDR… --json`: every
// active ban covering it (its own, or a prefix's), in pipeline order.
type AddrBans struct {
	Addr string `json:"addr"`
	// Bans is empty (never null) when the address is banned nowhere.
	Bans []Ban `json:"bans"`
}

// maxLookup bounds the addresses of one lookup, so a request stays small.
const maxLookup = 10_000

// handleBannedAddrs answers, for each ?addr=, the bans covering it. Each
// pipeline's index is asked on its runner for the address and each prefix
// containing it (at most 129 lookups per address and pipeline), so the
// answer costs the same with one ban or a million, and nothing else is
// sent.
func (d *Daemon) handleBannedAddrs(w http.ResponseWriter, req *http.Request) {
	asked := req.URL.Query()["addr"]
	if len(asked) == 0 || len(asked) > maxLookup {
		fail(w, http.StatusBadRequest, "ask for 1 to %d addresses (?addr=)", maxLookup)
		return
	}
	addrs := make([]netip.Addr, len(asked))
	for i, s := range asked {
		a, err := lookupAddr(s)
		if err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
		addrs[i] = a
	}
	out := make([]AddrBans, len(asked))
	for i, a := range addrs {
		out[i] = AddrBans{Addr: a.String(), Bans: []Ban{}}
	}
	now := time.Now()
	for _, name := range d.allPipelines() { // a stopped pipeline's bans are enforced too
		_, err := d.withRunner(req.Context(), name, func(r *runner, stopped bool) {
			for i, a := range addrs {
				for _, dec := range covering(r.stages.Tracker, a) {
					b := banOf(dec, now)
					b.PipelineStopped = stopped
					out[i].Bans = append(out[i].Bans, b)
				}
			}
		})
		if err != nil {
			fail(w, http.StatusServiceUnavailable, "pipeline %s: %v", name, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// lookupAddr parses an asked address: a single address, not a prefix.
func lookupAddr(s string) (netip.Addr, error) {
	p, err := parseTarget(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if !p.IsSingleIP() {
		return netip.Addr{}, fmt.Errorf("invalid address %q: a prefix; ask for an address in it", s)
	}
	return p.Addr(), nil
}

// covering returns t's active bans that contain a, narrowest first.
func covering(t *state.Tracker, a netip.Addr) []state.Decision {
	var out []state.Decision
	for bits := a.BitLen(); bits >= 0; bits-- {
		p, _ := a.Prefix(bits)
		if dec, ok := t.BanOf(p); ok {
			out = append(out, dec)
		}
	}
	return out
}
