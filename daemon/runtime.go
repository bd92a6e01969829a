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
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state"
)

// Run-time control, fail2ban-client's get/set and stop/start of a jail.
// What they change lasts until the next reload or restart, which return
// every pipeline to the configuration file: set values are dropped and
// stopped pipelines start again.

// RuntimeOnly ends the answer of a set: the change is not written anywhere.
const RuntimeOnly = "run-time only: a reload or restart returns to the configuration file"

// Setting is `logjail get PIPELINE KEY --json` (and part of a set's answer).
type Setting struct {
	Pipeline string `json:"pipeline"`
	Key      string `json:"key"`
	Value    any    `json:"value"`
}

// SetRequest is the body of POST /v1/set.
type SetRequest struct {
	Pipeline string `json:"pipeline"`
	Key      string `json:"key"`
	Value    string `json:"value"`
}

// SetResult is `logjail set --json`: the value now in effect, every
// override of the pipeline, and the bans the change lifted (an address
// added to ignoreip).
type SetResult struct {
	Setting
	Overrides map[string]any `json:"overrides"`
	Lifted    []string       `json:"lifted"`
	Note      string         `json:"note"`
}

// StopRequest is the body of POST /v1/stop; Unban lifts the pipeline's
// bans first (fail2ban's actionstop).
type StopRequest struct {
	Pipeline string `json:"pipeline"`
	Unban    bool   `json:"unban,omitempty"`
}

// StartRequest is the body of POST /v1/start.
type StartRequest struct {
	Pipeline string `json:"pipeline"`
}

// StopResult is `logjail stop --json` and `logjail start --json`: the
// pipeline's state now, and the bans a stop --unban lifted.
type StopResult struct {
	Pipeline string `json:"pipeline"`
	State    string `json:"state"`
	Unbanned int    `json:"unbanned"`
}

// The states of a pipeline in status.
const (
	stateRunning = "running"
	stateStopped = "stopped"
)

// runtimeState is what set, stop and start changed, by pipeline.
type runtimeState struct {
	mu sync.Mutex
	// specs are the pipelines' specs with their set values; shown are
	// those values, by key, for status.
	specs map[string]*pipelines.Pipeline
	shown map[string]map[string]any
	// stopped are the stopped pipelines: their runner as it ended, and
	// its tracker (nil when its last commit failed: start restores from
	// the store then).
	stopped map[string]stoppedPipeline
	// work serialises the work on stopped runners (withStopped) with what
	// takes them away (a start, a reload), without holding mu meanwhile;
	// taken before mu.
	work sync.Mutex
}

type stoppedPipeline struct {
	r       *runner
	tracker *state.Tracker
}

// runtimeRoutes adds the run-time control endpoints to mux.
func (d *Daemon) runtimeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/get/{pipeline}/{key}", d.handleGet)
	mux.HandleFunc("POST /v1/set", d.handleSet)
	mux.HandleFunc("POST /v1/stop", d.handleStop)
	mux.HandleFunc("POST /v1/start", d.handleStart)
}

// spec returns a pipeline's spec as it runs (set values included), of a
// running or a stopped pipeline.
func (d *Daemon) spec(name string) (*pipelines.Pipeline, bool) {
	d.rt.mu.Lock()
	defer d.rt.mu.Unlock()
	if p, ok := d.rt.specs[name]; ok {
		return p, true
	}
	if s, ok := d.rt.stopped[name]; ok {
		return s.r.stages.Spec, true
	}
	if r, ok := d.pipeline(name); ok {
		return r.stages.Spec, true
	}
	return nil, false
}

// overrides returns a copy of a pipeline's set values ({} when none).
func (d *Daemon) overrides(name string) map[string]any {
	d.rt.mu.Lock()
	defer d.rt.mu.Unlock()
	out := maps.Clone(d.rt.shown[name])
	if out == nil {
		out = map[string]any{}
	}
	return out
}

// stoppedNames lists the stopped pipelines, sorted.
func (d *Daemon) stoppedNames() []string {
	d.rt.mu.Lock()
	defer d.rt.mu.Unlock()
	return slices.Sorted(maps.Keys(d.rt.stopped))
}

// stopped returns a stopped pipeline.
func (d *Daemon) stopped(name string) (stoppedPipeline, bool) {
	d.rt.mu.Lock()
	defer d.rt.mu.Unlock()
	s, ok := d.rt.stopped[name]
	return s, ok
}

// resetRuntime forgets every set value and hands over the stopped
// pipelines' trackers (a reload): the reload starts them with the file's
// settings.
func (d *Daemon) resetRuntime() map[string]*state.Tracker {
	d.rt.work.Lock()
	defer d.rt.work.Unlock()
	d.rt.mu.Lock()
	defer d.rt.mu.Unlock()
	out := map[string]*state.Tracker{}
	for name, s := range d.rt.stopped {
		out[name] = s.tracker
		d.carried.put(s.r) // with what it counted while stopped
	}
	d.rt.specs, d.rt.shown, d.rt.stopped = nil, nil, nil
	return out
}

// noPipeline answers a request about a pipeline that neither runs nor is
// stopped.
func (d *Daemon) noPipeline(w http.ResponseWriter, name string) {
	fail(w, http.StatusNotFound, "no pipeline %q (running or stopped: %s)", name, strings.Join(d.allPipelines(), ", "))
}

// decodeBody decodes a request's JSON body into v, or answers 400.
func decodeBody(w http.ResponseWriter, req *http.Request, v any) bool {
	if err := json.NewDecoder(req.Body).Decode(v); err != nil {
		fail(w, http.StatusBadRequest, "bad request: %v", err)
		return false
	}
	return true
}

// running returns a running pipeline's runner, or answers why there is
// none: 409 saying the pipeline stopped (what follows its name), or 404.
func (d *Daemon) running(w http.ResponseWriter, name, stopped string) (*runner, bool) {
	if r, ok := d.pipeline(name); ok {
		return r, true
	}
	if _, ok := d.stopped(name); ok {
		fail(w, http.StatusConflict, "pipeline %s %s", name, stopped)
	} else {
		d.noPipeline(w, name)
	}
	return nil, false
}

func (d *Daemon) handleGet(w http.ResponseWriter, req *http.Request) {
	name, key := req.PathValue("pipeline"), pipelines.CanonicalKey(req.PathValue("key"))
	p, ok := d.spec(name)
	if !ok {
		d.noPipeline(w, name)
		return
	}
	v, err := p.Get(key)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, Setting{Pipeline: name, Key: key, Value: v})
}

// handleSet changes a setting of a running pipeline: the new policy is
// handed to its tracker on the runner (state.Tracker.Retune), whose gate
// re-checks the active bans as a reload's does; those it refuses are
// lifted as a manual unban is (stored, then enforced) before the answer.
func (d *Daemon) handleSet(w http.ResponseWriter, req *http.Request) {
	var sr SetRequest
	if !decodeBody(w, req, &sr) {
		return
	}
	d.reloadMu.Lock() // one change of the pipelines at a time
	defer d.reloadMu.Unlock()
	r, ok := d.running(w, sr.Pipeline, "is stopped; start it first (logjail start "+sr.Pipeline+")")
	if !ok {
		return
	}
	base, _ := d.spec(sr.Pipeline)
	p, err := base.Set(sr.Key, sr.Value)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	lifted, err := d.retune(req.Context(), r, p)
	if err != nil {
		fail(w, http.StatusInternalServerError, "pipeline %s: %s: %v", r.name, sr.Key, err)
		return
	}
	key := pipelines.CanonicalKey(sr.Key)
	if key == "addignoreip" || key == "delignoreip" {
		key = "ignoreip"
	}
	v, _ := p.Get(key)
	d.noteSet(r.name, key, p)
	res := SetResult{Setting: Setting{Pipeline: r.name, Key: key, Value: v}, Overrides: d.overrides(r.name), Lifted: []string{}, Note: RuntimeOnly}
	for _, b := range lifted {
		res.Lifted = append(res.Lifted, prefixText(b))
	}
	d.log.Info("setting changed at run time", "pipeline", r.name, "key", key, "value", loggedValue{v}, "lifted", len(lifted))
	writeJSON(w, http.StatusOK, res)
}

// noteSet keeps p, the pipeline's spec after a set of key, and the values
// set, for get and status. Every value kept is read from p again, and
// bantime_increment's object stands for its fields once it is set itself:
// a field set after it shows in it, never beside a stale copy.
func (d *Daemon) noteSet(name, key string, p *pipelines.Pipeline) {
	d.rt.mu.Lock()
	defer d.rt.mu.Unlock()
	if d.rt.specs == nil {
		d.rt.specs, d.rt.shown = map[string]*pipelines.Pipeline{}, map[string]map[string]any{}
	}
	d.rt.specs[name] = p
	shown := d.rt.shown[name]
	if shown == nil {
		shown = map[string]any{}
		d.rt.shown[name] = shown
	}
	const inc = "bantime_increment"
	_, whole := shown[inc]
	switch {
	case key == inc:
		maps.DeleteFunc(shown, func(k string, _ any) bool { return strings.HasPrefix(k, inc+".") })
		shown[key] = nil
	case !whole || !strings.HasPrefix(key, inc+"."):
		shown[key] = nil
	}
	for k := range shown {
		shown[k], _ = p.Get(k)
	}
}

// loggedValue is a setting's value in the log as get --json writes it:
// JSON in a JSON log; in a text log a string as it is, any other value
// as its JSON (not Go's map syntax).
type loggedValue struct{ v any }

func (l loggedValue) MarshalJSON() ([]byte, error) { return json.Marshal(l.v) }

func (l loggedValue) MarshalText() ([]byte, error) {
	if s, ok := l.v.(string); ok {
		return []byte(s), nil
	}
	return json.Marshal(l.v)
}

// retune hands p's policy to r's tracker and lifts the bans its gate now
// refuses, waiting until they are stored and enforced.
func (d *Daemon) retune(ctx context.Context, r *runner, p *pipelines.Pipeline) ([]state.Decision, error) {
	pol := p.Policy(pipelines.Deps{Host: d.host, Servers: d.servers})
	var (
		lifted []state.Decision
		ok     bool
		derr   error
	)
	err := r.call(ctx, func() {
		if lifted, ok = r.stages.Tracker.Retune(pol, r.now()); !ok {
			return
		}
		for _, b := range lifted {
			why, _ := strings.CutPrefix(b.Reason, state.RefusedReason)
			r.log.Warn("ban refused by the gate after a set; lifted", "addr", prefixText(b), "reason", why)
		}
		// The tracker has lifted them; a store that fails here leaves
		// them in the store and the kernel until they expire or the
		// next start, whose gate is the file's.
		derr = r.decideManual(lifted)
	})
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, errors.New("the change cannot be made while the pipeline runs")
	case derr != nil:
		return nil, fmt.Errorf("the setting is in effect, but lifting the bans it refuses failed: %w", derr)
	}
	return lifted, nil
}

// handleStop stops a pipeline's sources and matching. Its bans stay in
// the firewall and the store, expiring there on their own, unless unban
// lifts them first (or, on a pipeline stopped already, lifts them now);
// its positions are committed, so a start reads on from where it stopped.
func (d *Daemon) handleStop(w http.ResponseWriter, req *http.Request) {
	var sr StopRequest
	if !decodeBody(w, req, &sr) {
		return
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if _, stopped := d.stopped(sr.Pipeline); stopped && sr.Unban {
		d.unbanStopped(w, sr.Pipeline)
		return
	}
	r, ok := d.running(w, sr.Pipeline, "is stopped already")
	if !ok {
		return
	}
	res := StopResult{Pipeline: r.name, State: stateStopped}
	if sr.Unban {
		var derr error
		if err := r.call(req.Context(), func() { res.Unbanned, derr = r.unban(nil, "pipeline stopped") }); err != nil || derr != nil {
			fail(w, http.StatusInternalServerError, "pipeline %s not stopped: lifting its bans: %v", r.name, errors.Join(err, derr))
			return
		}
	}
	t, err := d.stopPipeline(r.name)
	if err != nil {
		d.log.Error("pipeline stopped without its last commit; its start restores from the store", "pipeline", r.name, "err", err)
	}
	d.rt.mu.Lock()
	if d.rt.stopped == nil {
		d.rt.stopped = map[string]stoppedPipeline{}
	}
	d.rt.stopped[r.name] = stoppedPipeline{r: r, tracker: t}
	d.rt.mu.Unlock()
	d.log.Info("pipeline stopped", "pipeline", r.name, "unbanned", res.Unbanned)
	writeJSON(w, http.StatusOK, res)
}

// unbanStopped is stop --unban of a stopped pipeline: it lifts the bans
// the stop kept, as the stop would have first. The caller holds reloadMu,
// so no start comes between.
func (d *Daemon) unbanStopped(w http.ResponseWriter, name string) {
	var (
		res  = StopResult{Pipeline: name, State: stateStopped}
		derr error
	)
	d.withStopped(name, func(r *runner) { res.Unbanned, derr = r.unban(nil, "pipeline stopped") })
	if derr != nil {
		fail(w, http.StatusInternalServerError, "pipeline %s (stopped): lifting its bans: %v", name, derr)
		return
	}
	d.log.Info("bans of a stopped pipeline lifted", "pipeline", name, "unbanned", res.Unbanned)
	writeJSON(w, http.StatusOK, res)
}

// unban lifts the bans of targets, or every active ban when targets is
// nil (unban --all), each stored before it is confirmed (decideManual),
// and says how many it lifted.
func (r *runner) unban(targets []netip.Prefix, reason string) (int, error) {
	if targets == nil {
		for _, b := range r.stages.Tracker.Active() {
			targets = append(targets, b.Prefix)
		}
	}
	var unbans []state.Decision
	for _, p := range targets {
		if dec, ok := r.stages.Tracker.PlanUnban(p, reason, r.now()); ok {
			unbans = append(unbans, dec)
		}
	}
	return len(unbans), r.decideManual(unbans)
}

// handleStart starts a stopped pipeline again, with its set values: its
// sources read on from the stored positions, its tracker (windows, bans)
// carries over as a reload's does.
func (d *Daemon) handleStart(w http.ResponseWriter, req *http.Request) {
	var sr StartRequest
	if !decodeBody(w, req, &sr) {
		return
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	s, ok := d.stopped(sr.Pipeline)
	if !ok {
		if _, running := d.pipeline(sr.Pipeline); running {
			fail(w, http.StatusConflict, "pipeline %s is running already", sr.Pipeline)
		} else {
			d.noPipeline(w, sr.Pipeline)
		}
		return
	}
	p, _ := d.spec(sr.Pipeline)
	d.rt.work.Lock() // after the work on its stopped runner
	d.rt.mu.Lock()
	delete(d.rt.stopped, sr.Pipeline)
	d.rt.mu.Unlock()
	d.carried.put(s.r) // with what it counted while stopped
	d.rt.work.Unlock()
	if err := d.startPipeline(context.WithoutCancel(req.Context()), p, s.tracker); err != nil {
		fail(w, http.StatusInternalServerError, "pipeline %s: %v", sr.Pipeline, err)
		return
	}
	d.mu.RLock()
	why, failed := d.failed[sr.Pipeline]
	d.mu.RUnlock()
	if failed {
		fail(w, http.StatusInternalServerError, "pipeline %s could not start (its bans stay enforced): %s", sr.Pipeline, why)
		return
	}
	d.log.Info("pipeline started", "pipeline", sr.Pipeline)
	writeJSON(w, http.StatusOK, StopResult{Pipeline: sr.Pipeline, State: stateRunning})
}

// reconcileStopped repairs the firewall sets of the stopped pipelines
// from their bans, as reconcileAll does the running ones': a flushed
// table gets a stopped pipeline's bans back too. Those with more than most
// bans (0: none) are skipped, as there.
func (d *Daemon) reconcileStopped(ctx context.Context, most int) {
	for _, name := range d.stoppedNames() {
		d.withStopped(name, func(r *runner) {
			tr := r.stages.Tracker
			if most > 0 && tr.Stats().CurrentlyBanned > most {
				return
			}
			if err := enforce.Repair(ctx, r.enforcer, tr.ActiveUnsorted(), time.Now()); err != nil {
				d.log.Error("reconciling the firewall", "pipeline", name, "err", err)
			}
		})
	}
}

// descStopped tells a stopped pipeline from one that could not start
// (logjail_pipeline_up is 0 for both).
var descStopped = prometheus.NewDesc("logjail_pipeline_stopped", "1 for a pipeline logjail stop stopped (until logjail start, a reload or a restart), 0 for the others.", []string{"pipeline"}, nil)

// collectStopped sends logjail_pipeline_stopped for every pipeline, and
// logjail_pipeline_up 0 for the stopped ones.
func (d *Daemon) collectStopped(ch chan<- prometheus.Metric) {
	d.mu.RLock()
	others := append(slices.Clone(d.order), slices.Collect(maps.Keys(d.failed))...)
	d.mu.RUnlock()
	for _, name := range others {
		ch <- prometheus.MustNewConstMetric(descStopped, prometheus.GaugeValue, 0, name)
	}
	for _, name := range d.stoppedNames() {
		ch <- prometheus.MustNewConstMetric(descPipelines, prometheus.GaugeValue, 0, name)
		ch <- prometheus.MustNewConstMetric(descStopped, prometheus.GaugeValue, 1, name)
	}
}
