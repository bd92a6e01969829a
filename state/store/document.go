package store

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
)

// The checks an import runs on each record of the document.

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("missing")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
	}
	return t, nil
}

func checkPipeline(name string) error {
	if name == "" {
		return errors.New("no pipeline")
	}
	if strings.ContainsRune(name, 0) {
		return fmt.Errorf("pipeline %q: contains a NUL", name)
	}
	return nil
}

// parsePrefix reads a prefix (or a single address) into its canonical form.
func parsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, errors.New("no prefix")
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || strings.Contains(s, "/") {
			return netip.Prefix{}, fmt.Errorf("prefix %q: %w", s, err)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("prefix %q: has a zone", s)
	}
	return gate.Canonical(p), nil
}

func (b exportBan) decision() (state.Decision, error) {
	if err := checkPipeline(b.Pipeline); err != nil {
		return state.Decision{}, err
	}
	p, err := parsePrefix(b.Prefix)
	if err != nil {
		return state.Decision{}, err
	}
	d := state.Decision{Kind: state.Ban, Pipeline: b.Pipeline, Prefix: p, Failures: b.Failures, BanCount: b.BanCount, Reason: b.Reason}
	if d.Time, err = parseTime(b.Time); err != nil {
		return state.Decision{}, fmt.Errorf("time: %w", err)
	}
	if !b.Until.set {
		return state.Decision{}, errors.New("until: missing (null for a permanent ban)")
	}
	if b.Until.v != nil {
		if d.Until, err = parseTime(*b.Until.v); err != nil {
			return state.Decision{}, fmt.Errorf("until: %w", err)
		}
		if d.Until.IsZero() {
			return state.Decision{}, errors.New("until: the zero time; a permanent ban has until null")
		}
		if d.Until.Before(d.Time) {
			return state.Decision{}, fmt.Errorf("until %s is before time %s", *b.Until.v, b.Time)
		}
	}
	if b.Failures < 0 || b.BanCount < 0 {
		return state.Decision{}, errors.New("failures and ban_count cannot be negative")
	}
	return d, nil
}

func (h exportHistory) record() (importHistory, error) {
	if err := checkPipeline(h.Pipeline); err != nil {
		return importHistory{}, err
	}
	p, err := parsePrefix(h.Prefix)
	if err != nil {
		return importHistory{}, err
	}
	last, err := parseTime(h.Last)
	if err != nil {
		return importHistory{}, fmt.Errorf("last: %w", err)
	}
	if h.Count < 1 {
		return importHistory{}, fmt.Errorf("count %d: at least 1", h.Count)
	}
	if h.BanTimeS < 0 && h.BanTimeS != -1 {
		return importHistory{}, fmt.Errorf("bantime_s %v: seconds, or -1 for permanent", h.BanTimeS)
	}
	r := storedHistory{Count: h.Count, Last: last, BanTimeS: h.BanTimeS}
	return importHistory{rec: r.record(h.Pipeline, p), stored: r}, nil
}

func (w exportWindow) window() (importWindow, error) {
	if err := checkPipeline(w.Pipeline); err != nil {
		return importWindow{}, err
	}
	a, err := netip.ParseAddr(w.Key)
	if err != nil || a.Zone() != "" {
		return importWindow{}, fmt.Errorf("key %q: not an address", w.Key)
	}
	if len(w.Times) == 0 {
		return importWindow{}, errors.New("times: none")
	}
	out := importWindow{key: windowKey(w.Pipeline, a.Unmap())}
	for j, s := range w.Times {
		t, err := parseTime(s)
		if err != nil {
			return importWindow{}, fmt.Errorf("times[%d]: %w", j, err)
		}
		ns := t.UnixNano()
		if !time.Unix(0, ns).Equal(t) {
			return importWindow{}, fmt.Errorf("times[%d]: %s is out of range", j, s)
		}
		out.times = append(out.times, ns)
	}
	slices.Sort(out.times)
	out.times = slices.Compact(out.times)
	return out, nil
}

func (p exportPosition) position() (importPosition, error) {
	out := importPosition{value: p.Value}
	if out.value == nil {
		return importPosition{}, errors.New("no value")
	}
	if p.KeyBase64 != nil {
		if len(p.KeyBase64) == 0 {
			return importPosition{}, errors.New("key_base64: empty")
		}
		out.key = p.KeyBase64
		return out, nil
	}
	if p.Key == "" {
		return importPosition{}, errors.New("no key")
	}
	if err := checkPipeline(p.Pipeline); err != nil {
		return importPosition{}, err
	}
	out.key = []byte(p.Pipeline + "\x00" + p.Key)
	return out, nil
}
