package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
)

// handler serves the control API: JSON over HTTP on the unix socket.
func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", d.handlePing)
	mux.HandleFunc("GET /v1/status", d.handleStatus)
	mux.HandleFunc("GET /v1/status/{pipeline}", d.handlePipelineStatus)
	mux.HandleFunc("GET /v1/banned", d.handleBanned)
	mux.HandleFunc("GET /v1/banned/addrs", d.handleBannedAddrs)
	mux.HandleFunc("GET /v1/explain", d.handleExplain)
	mux.HandleFunc("POST /v1/ban", d.handleBan)
	mux.HandleFunc("POST /v1/unban", d.handleUnban)
	mux.HandleFunc("POST /v1/reload", d.handleReload)
	mux.HandleFunc("GET /v1/failing/{pipeline}", d.handleFailing)
	mux.HandleFunc("GET /v1/export", d.handleExport)
	d.runtimeRoutes(mux)
	return mux
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, apiError{Error: fmt.Sprintf(format, args...)})
}

// handlePing answers that the daemon is there, with its build: it takes
// no lock, so it answers while a reload runs.
func (d *Daemon) handlePing(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Pong{Build: d.opts.Build})
}

func (d *Daemon) handleStatus(w http.ResponseWriter, _ *http.Request) {
	build := d.opts.Build
	d.mu.RLock()
	st := Status{Pipelines: append([]string{}, d.order...), Failed: maps.Clone(d.failed), Build: &build}
	d.mu.RUnlock()
	st.Stopped = d.stoppedNames()
	if d.firewall != nil {
		st.FirewallRestores = d.firewall.restores.Load()
	}
	if err := d.store.Broken(); err != nil {
		st.StoreError = err.Error()
	}
	writeJSON(w, http.StatusOK, st)
}

func (d *Daemon) handlePipelineStatus(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("pipeline")
	r, ok := d.pipeline(name)
	var st PipelineStatus
	var active state.Bans
	if ok {
		if err := r.call(req.Context(), func() { st, active = r.status() }); err != nil {
			fail(w, http.StatusServiceUnavailable, "pipeline %s: %v", r.name, err)
			return
		}
		for _, src := range r.stages.Sources {
			st.Sources = append(st.Sources, sourceStatus(src))
		}
		st.Publishers = r.publisherStatus()
		st.Mailers = r.mailerStatus()
	} else if st, active, ok = d.stoppedStatus(name); !ok {
		d.noPipeline(w, name)
		return
	}
	st.Overrides = d.overrides(name)
	newBanWriter(w).pipelineStatus(st, active, time.Now())
}

// handleBanned lists every pipeline's bans, a stopped one's included: a
// snapshot of each pipeline's is taken on its runner, all before the
// answer starts (a pipeline that does not answer fails the whole), then
// sorted and written off the runners.
func (d *Daemon) handleBanned(w http.ResponseWriter, req *http.Request) {
	var all []pipelineBans
	for _, name := range d.allPipelines() {
		var pb pipelineBans
		found, err := d.withRunner(req.Context(), name, func(r *runner, stopped bool) {
			pb = pipelineBans{active: r.stages.Tracker.Snapshot(), stopped: stopped}
		})
		if err != nil {
			fail(w, http.StatusServiceUnavailable, "pipeline %s: %v", name, err)
			return
		}
		if found {
			all = append(all, pb)
		}
	}
	newBanWriter(w).banned(all, time.Now())
}

func parseTarget(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid prefix %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("invalid address %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (d *Daemon) handleBan(w http.ResponseWriter, req *http.Request) {
	var br BanRequest
	if !decodeBody(w, req, &br) {
		return
	}
	if !d.known(br.Pipeline) {
		d.noPipeline(w, br.Pipeline)
		return
	}
	prefix, err := parseTarget(br.Addr)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if !prefix.IsSingleIP() {
		fail(w, http.StatusBadRequest, "%s: only single addresses can be banned", br.Addr)
		return
	}
	var dur time.Duration
	if br.For != "" {
		if dur, err = pipelines.ParseDuration(br.For); err != nil {
			fail(w, http.StatusBadRequest, "--for: %v", err)
			return
		}
		if dur == pipelines.Permanent {
			dur = state.PermanentBan
		}
	}
	var (
		ban       state.Decision
		why       gate.Reason
		decideErr error
		stopped   bool
		spec      *pipelines.Pipeline
	)
	found, err := d.withRunner(req.Context(), br.Pipeline, func(r *runner, s bool) {
		ban, why, decideErr = r.banByHand(prefix, dur)
		stopped, spec = s, d.specOf(r)
	})
	switch {
	case err != nil:
		fail(w, http.StatusServiceUnavailable, "pipeline %s: %v", br.Pipeline, err)
	case !found:
		d.noPipeline(w, br.Pipeline) // started or stopped meanwhile by a reload
	case why != "":
		fail(w, http.StatusBadRequest, "%s", refusalText(br.Addr, prefix.Addr(), spec, why))
	case decideErr != nil:
		fail(w, http.StatusInternalServerError, "%s not banned in pipeline %s: %v", br.Addr, br.Pipeline, decideErr)
	default:
		b := banOf(ban, time.Now())
		b.PipelineStopped = stopped
		writeJSON(w, http.StatusOK, b)
	}
}

// specOf is r's pipeline spec as it runs, set values included (see
// Daemon.spec); r's own when a reload has just replaced r.
func (d *Daemon) specOf(r *runner) *pipelines.Pipeline {
	if p, ok := d.spec(r.name); ok {
		return p
	}
	return r.stages.Spec
}

// refusalText says why the gate refused to ban a (written addr) in
// pipeline p (its spec as it runs, set values included), and how to ban
// the address when it can be banned at all.
func refusalText(addr string, a netip.Addr, p *pipelines.Pipeline, why gate.Reason) string {
	pipeline := p.Name
	switch why {
	case gate.IgnoreIP:
		return ignoredText(addr, a, p)
	case gate.IgnoreSelf:
		return fmt.Sprintf("%s is an address of this host, which pipeline %s never bans (ignoreself); set ignoreself: false there to ban it", addr, pipeline)
	case gate.IgnoreCommand:
		return fmt.Sprintf("%s is passed by the ignorecommand of pipeline %s, which never bans it", addr, pipeline)
	case gate.NATSServer:
		return fmt.Sprintf("%s is a NATS server logjail uses; banning it would cut logjail off from NATS", addr)
	case gate.TooWide:
		return fmt.Sprintf("%s is wider than pipeline %s bans", addr, pipeline)
	}
	return fmt.Sprintf("%s is not a host address (unspecified, broadcast, multicast, link-local or loopback)", addr)
}

// ignoredText says which ignoreip entries keep a from bans and how to
// lift them: one of the configuration is removed there; one that logjail
// set addignoreip added is in no file, and logjail set delignoreip
// removes it (until the next reload).
func ignoredText(addr string, a netip.Addr, p *pipelines.Pipeline) string {
	configured, added := p.IgnoreIPHolding(a)
	if len(added) == 0 {
		return fmt.Sprintf("%s is in ignoreip of pipeline %s; remove it there to ban it", addr, p.Name)
	}
	sets := make([]string, len(added))
	for i, x := range added {
		sets[i] = fmt.Sprintf("logjail set %s delignoreip %s", p.Name, x)
	}
	if len(configured) == 0 {
		return fmt.Sprintf("%s is in ignoreip of pipeline %s, added at run time (in no configuration file); run %s to ban it",
			addr, p.Name, strings.Join(sets, " and "))
	}
	return fmt.Sprintf("%s is in ignoreip of pipeline %s, in its configuration (%s) and added at run time; remove it there and run %s to ban it",
		addr, p.Name, strings.Join(configured, ", "), strings.Join(sets, " and "))
}

func (d *Daemon) handleUnban(w http.ResponseWriter, req *http.Request) {
	var ur UnbanRequest
	if !decodeBody(w, req, &ur) {
		return
	}
	var prefix netip.Prefix
	if ur.All {
		if ur.Addr != "" {
			fail(w, http.StatusBadRequest, "an address or all, not both")
			return
		}
	} else {
		var err error
		if prefix, err = parseTarget(ur.Addr); err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	names := d.allPipelines() // a stopped pipeline's bans are enforced too
	if ur.Pipeline != "" {
		if !d.known(ur.Pipeline) {
			d.noPipeline(w, ur.Pipeline)
			return
		}
		names = []string{ur.Pipeline}
	}
	res := UnbanResult{Pipelines: []string{}}
	if !ur.All {
		res.Addr = prefixText(state.Decision{Prefix: prefix})
	}
	targets := []netip.Prefix{prefix}
	if ur.All {
		targets = nil // every active ban
	}
	for _, name := range names {
		var lifted int
		var decideErr error
		_, err := d.withRunner(req.Context(), name, func(r *runner, _ bool) {
			lifted, decideErr = r.unban(targets, "manual") // stored before it is confirmed
		})
		if err != nil {
			fail(w, http.StatusServiceUnavailable, "pipeline %s: %v", name, err)
			return
		}
		if decideErr != nil {
			done := "nothing unbanned"
			if len(res.Pipelines) > 0 {
				done = "unbanned in " + strings.Join(res.Pipelines, ", ") + " only"
			}
			fail(w, http.StatusInternalServerError, "pipeline %s: %v (%s)", name, decideErr, done)
			return
		}
		if lifted > 0 {
			res.Pipelines = append(res.Pipelines, name)
			res.Count += lifted
		}
	}
	if len(res.Pipelines) == 0 && !ur.All {
		fail(w, http.StatusNotFound, "%s is not banned", ur.Addr)
		return
	}
	slices.Sort(res.Pipelines)
	writeJSON(w, http.StatusOK, res)
}

var errNotRunning = errors.New("no logjail is listening on the control socket")

func (d *Daemon) handleReload(w http.ResponseWriter, req *http.Request) {
	names, err := d.reload(context.WithoutCancel(req.Context()))
	if ue := (*unsavedError)(nil); errors.As(err, &ue) {
		d.log.Error("configuration reloaded with a state store that could not commit", "pipelines", names, "err", err)
		fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	if err != nil {
		d.log.Error("reload refused; the running configuration stays", "err", err)
		fail(w, http.StatusBadRequest, "reload refused; the running configuration stays:\n%v", err)
		return
	}
	d.log.Info("configuration reloaded", "pipelines", names)
	writeJSON(w, http.StatusOK, Status{Pipelines: names})
}

// handleFailing lists the addresses (or prefixes) a pipeline is counting,
// with their failures within findtime; a stopped pipeline's too (its
// windows wait for its start).
func (d *Daemon) handleFailing(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("pipeline")
	out := map[string]int{}
	found, err := d.withRunner(req.Context(), name, func(r *runner, _ bool) {
		for p, n := range r.stages.Tracker.Failing(r.now()) {
			out[prefixText(state.Decision{Prefix: p})] = n
		}
	})
	if !found {
		fail(w, http.StatusNotFound, "no pipeline %q (running: %s)", name, strings.Join(d.pipelineNames(), ", "))
		return
	}
	if err != nil {
		fail(w, http.StatusServiceUnavailable, "pipeline %s: %v", name, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
