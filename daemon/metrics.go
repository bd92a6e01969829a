package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/logjail/logjail/daemon/buildinfo"
	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/state/gate"
)

// metrics exposes the daemon's counters to Prometheus. Values are read
// from the pipelines at scrape time (through their goroutines), so the hot
// path only bumps plain counters its goroutine owns: no locks, no atomics.
type metrics struct{ d *Daemon }

// matchSampleEvery is how often the match stage is timed: one entry in
// matchSampleEvery (deterministically, by a counter), so that reading the
// clock costs the hot path next to nothing. logjail_match_duration_seconds
// is that sample: its count is about entries/matchSampleEvery.
const matchSampleEvery = 16

// matchBuckets are the upper bounds of the match latency histogram: a
// line matched by a filter takes from a few hundred nanoseconds to tens of
// microseconds; a pathological regex, milliseconds.
var matchBuckets = [...]time.Duration{
	250 * time.Nanosecond, 500 * time.Nanosecond,
	time.Microsecond, 2500 * time.Nanosecond, 5 * time.Microsecond,
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, time.Millisecond, 10 * time.Millisecond,
}

// latencyHist is a fixed-bucket histogram owned by one goroutine (the
// runner's); the collector copies it through runner.call.
type latencyHist struct {
	counts [len(matchBuckets) + 1]uint64 // per bucket, not cumulative; the last is above every bound
	sum    time.Duration
	n      uint64
}

func (h *latencyHist) observe(d time.Duration) {
	i := 0
	for i < len(matchBuckets) && d > matchBuckets[i] {
		i++
	}
	h.counts[i]++
	h.sum += d
	h.n++
}

// metric exports the histogram with cumulative buckets, in seconds.
func (h *latencyHist) metric(desc *prometheus.Desc, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(matchBuckets))
	var cum uint64
	for i, b := range matchBuckets {
		cum += h.counts[i]
		buckets[b.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(desc, h.n, h.sum.Seconds(), buckets, labels...)
}

var (
	descFailures  = prometheus.NewDesc("logjail_failures_total", "Failures recognised, per pipeline.", []string{"pipeline"}, nil)
	descBans      = prometheus.NewDesc("logjail_bans_total", "Bans decided, per pipeline.", []string{"pipeline"}, nil)
	descActive    = prometheus.NewDesc("logjail_active_bans", "Bans in force, per pipeline.", []string{"pipeline"}, nil)
	descFailing   = prometheus.NewDesc("logjail_tracked_addresses", "Addresses (or prefixes) with failures in the window, per pipeline.", []string{"pipeline"}, nil)
	descUnbans    = prometheus.NewDesc("logjail_unbans_total", "Unbans applied (expired, manual, or from the fleet), per pipeline.", []string{"pipeline"}, nil)
	descEnforce   = prometheus.NewDesc("logjail_enforce_errors_total", "Failed enforcer operations (nftables, exec), per pipeline; NATS and mail have their own error series.", []string{"pipeline"}, nil)
	descCommit    = prometheus.NewDesc("logjail_commit_errors_total", "Commits the state store refused (disk full, I/O errors), per pipeline; what they held is retried.", []string{"pipeline"}, nil)
	descTimeouts  = prometheus.NewDesc("logjail_regex_timeouts_total", "Regex matches on the backtracking engine that ran out of time, per pipeline: a line where a failure may have gone unseen.", []string{"pipeline"}, nil)
	descEvicted   = prometheus.NewDesc("logjail_connections_evicted_total", "Connections a filter tracking them (<F-MLFID>) dropped from its full table before their time, per pipeline: a failure on a later line of one may have gone unseen.", []string{"pipeline"}, nil)
	descMatchDur  = prometheus.NewDesc("logjail_match_duration_seconds", fmt.Sprintf("Time the match stage takes per entry, per pipeline. Sampled: one entry in %d is timed, so the count is about 1/%d of the entries.", matchSampleEvery, matchSampleEvery), []string{"pipeline"}, nil)
	descQueue     = prometheus.NewDesc("logjail_queue_depth", "Entries waiting between the sources and the pipeline.", []string{"pipeline"}, nil)
	descRead      = prometheus.NewDesc("logjail_source_entries_total", "Entries read, per source.", []string{"pipeline", "source"}, nil)
	descSkipped   = prometheus.NewDesc("logjail_source_skipped_total", "Records skipped as bad input, per source.", []string{"pipeline", "source"}, nil)
	descDropped   = prometheus.NewDesc("logjail_source_dropped_total", "Records dropped because the queue was full, per source.", []string{"pipeline", "source"}, nil)
	descSrcErrors = prometheus.NewDesc("logjail_source_errors_total", "Read and parse errors (missing files, I/O errors, malformed records), per source.", []string{"pipeline", "source"}, nil)
	descRejected  = prometheus.NewDesc("logjail_source_rejected_total", "Records refused by policy (syslog senders outside allow, connections beyond a connection budget), per source.", []string{"pipeline", "source"}, nil)
	descHandshake = prometheus.NewDesc("logjail_source_tls_handshake_failures_total", "Failed TLS handshakes of a listener, per source.", []string{"pipeline", "source"}, nil)
	descLastEntry = prometheus.NewDesc("logjail_source_last_entry_timestamp_seconds", "When the source last delivered an entry (unix seconds); 0 when it has not since logjail started.", []string{"pipeline", "source"}, nil)
	descSrcState  = prometheus.NewDesc("logjail_source_state", "The source's health: 1 for its current state (reading, waiting, unavailable, error), 0 for the others.", []string{"pipeline", "source", "state"}, nil)
	descRestores  = prometheus.NewDesc("logjail_firewall_restores_total", "Times the nftables table was rebuilt after another program changed it.", nil, nil)
	descSent      = prometheus.NewDesc("logjail_nats_published_total", "Messages (ban events, fleet failures and bans) the NATS server acknowledged, per pipeline and outbox.", []string{"pipeline", "sink"}, nil)
	descPending   = prometheus.NewDesc("logjail_nats_outbox_pending", "Messages waiting on disk for NATS, per pipeline and outbox.", []string{"pipeline", "sink"}, nil)
	descOutDrop   = prometheus.NewDesc("logjail_nats_outbox_dropped_total", "Messages dropped because the outbox was full, per pipeline and outbox.", []string{"pipeline", "sink"}, nil)
	descPubErrs   = prometheus.NewDesc("logjail_nats_publish_errors_total", "Failed publish rounds (retried), per pipeline and outbox.", []string{"pipeline", "sink"}, nil)
	descMailSent  = prometheus.NewDesc("logjail_mail_sent_total", "Mails delivered by the mail enforcer of a pipeline (a shared mailer counts for each of its pipelines).", []string{"pipeline"}, nil)
	descMailQueue = prometheus.NewDesc("logjail_mail_queued", "Decisions and notes waiting to be mailed, per pipeline.", []string{"pipeline"}, nil)
	descMailFail  = prometheus.NewDesc("logjail_mail_failed_total", "Mail delivery attempts that failed (retried), per pipeline.", []string{"pipeline"}, nil)
	descMailDrop  = prometheus.NewDesc("logjail_mail_dropped_total", "Decisions never mailed (a full queue, a delivery given up), per pipeline.", []string{"pipeline"}, nil)
	descStore     = prometheus.NewDesc("logjail_store_broken", "1 when the state store refuses writes (bbolt panicked on a damaged page; see logjail status), else 0.", nil, nil)
	descRefused   = prometheus.NewDesc("logjail_gate_refused_total", "Addresses the gate refused to ban (failures, manual, fleet and restored bans), per pipeline and rule.", []string{"pipeline", "reason"}, nil)
	descPipelines = prometheus.NewDesc("logjail_pipeline_up", "1 for a running pipeline, 0 for one that could not start or is stopped (see logjail_pipeline_stopped).", []string{"pipeline"}, nil)
)

func (m metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFailures, descBans, descUnbans, descActive, descFailing, descEnforce, descCommit, descTimeouts, descEvicted, descMatchDur, descQueue, descRead, descSkipped, descDropped, descSrcErrors, descRejected, descHandshake, descLastEntry, descSrcState, descRestores, descStore, descPipelines, descStopped, descSent, descPending, descOutDrop, descPubErrs, descMailSent, descMailQueue, descMailFail, descMailDrop, descRefused} {
		ch <- d
	}
}

func (m metrics) Collect(ch chan<- prometheus.Metric) {
	d := m.d
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, name := range d.pipelineNames() {
		r, ok := d.pipeline(name)
		if !ok || !collectPipeline(ctx, ch, name, r) {
			continue
		}
		collectSources(ch, name, r.stages.Sources)
		collectOutputs(ch, name, r)
	}
	d.mu.RLock()
	for name := range d.failed {
		ch <- prometheus.MustNewConstMetric(descPipelines, prometheus.GaugeValue, 0, name)
	}
	d.mu.RUnlock()
	d.collectStopped(ch)
	var restores uint64
	if d.firewall != nil {
		restores = d.firewall.restores.Load()
	}
	ch <- prometheus.MustNewConstMetric(descRestores, prometheus.CounterValue, float64(restores))
	broken := 0.0
	if d.store.Broken() != nil {
		broken = 1
	}
	ch <- prometheus.MustNewConstMetric(descStore, prometheus.GaugeValue, broken)
}

// collectPipeline sends the counters a running pipeline's goroutine owns,
// read through it. It reports false, sending nothing, when that goroutine
// did not answer (the pipeline is stopping).
func collectPipeline(ctx context.Context, ch chan<- prometheus.Metric, name string, r *runner) bool {
	var failed, banned, unbans, enforceErrors, commitErrors, timeouts, evicted uint64
	var active, tracked int
	var latency latencyHist
	var refused map[gate.Reason]uint64
	err := r.call(ctx, func() {
		st := r.stages.Tracker.Stats()
		refused = st.Refused
		failed, banned, active, tracked = st.TotalFailed, st.TotalBanned, st.CurrentlyBanned, st.CurrentlyFailed
		unbans, enforceErrors, commitErrors, latency = r.unbans, r.enforceErrors.Load(), r.commitErrors, r.matchLatency
		timeouts, evicted = r.regexTimeouts, r.connEvicted
	})
	if err != nil {
		return false
	}
	ch <- prometheus.MustNewConstMetric(descPipelines, prometheus.GaugeValue, 1, name)
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(failed), name)
	ch <- prometheus.MustNewConstMetric(descBans, prometheus.CounterValue, float64(banned), name)
	ch <- prometheus.MustNewConstMetric(descUnbans, prometheus.CounterValue, float64(unbans), name)
	ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(active), name)
	ch <- prometheus.MustNewConstMetric(descFailing, prometheus.GaugeValue, float64(tracked), name)
	ch <- prometheus.MustNewConstMetric(descEnforce, prometheus.CounterValue, float64(enforceErrors), name)
	ch <- prometheus.MustNewConstMetric(descCommit, prometheus.CounterValue, float64(commitErrors), name)
	ch <- prometheus.MustNewConstMetric(descTimeouts, prometheus.CounterValue, float64(timeouts), name)
	ch <- prometheus.MustNewConstMetric(descEvicted, prometheus.CounterValue, float64(evicted), name)
	ch <- latency.metric(descMatchDur, name)
	for _, why := range gate.Reasons {
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(refused[why]), name, string(why))
	}
	ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(r.queueDepth()), name)
	return true
}

// collectSources sends each source's counters, last entry and state.
func collectSources(ch chan<- prometheus.Metric, name string, sources []ingest.Source) {
	for _, src := range sources {
		s := src.Stats()
		ch <- prometheus.MustNewConstMetric(descRead, prometheus.CounterValue, float64(s.Read), name, src.Describe())
		ch <- prometheus.MustNewConstMetric(descSkipped, prometheus.CounterValue, float64(s.Skipped), name, src.Describe())
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.Dropped), name, src.Describe())
		ch <- prometheus.MustNewConstMetric(descSrcErrors, prometheus.CounterValue, float64(s.Errors), name, src.Describe())
		ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(s.Rejected), name, src.Describe())
		ch <- prometheus.MustNewConstMetric(descHandshake, prometheus.CounterValue, float64(s.HandshakeFailures), name, src.Describe())
		var last float64
		if !s.LastEntry.IsZero() {
			last = float64(s.LastEntry.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(descLastEntry, prometheus.GaugeValue, last, name, src.Describe())
		for _, state := range ingest.States {
			v := 0.0
			if s.State == state {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descSrcState, prometheus.GaugeValue, v, name, src.Describe(), string(state))
		}
	}
}

// collectOutputs sends the counters of a pipeline's mail enforcers and
// NATS publishers.
func collectOutputs(ch chan<- prometheus.Metric, name string, r *runner) {
	// Several mail blocks in one pipeline are summed: one series each.
	if ms := r.mailerStatus(); len(ms) > 0 {
		var sum MailerStatus
		for _, m := range ms {
			sum.Sent, sum.Queued, sum.Failed, sum.Dropped = sum.Sent+m.Sent, sum.Queued+m.Queued, sum.Failed+m.Failed, sum.Dropped+m.Dropped
		}
		ch <- prometheus.MustNewConstMetric(descMailSent, prometheus.CounterValue, float64(sum.Sent), name)
		ch <- prometheus.MustNewConstMetric(descMailQueue, prometheus.GaugeValue, float64(sum.Queued), name)
		ch <- prometheus.MustNewConstMetric(descMailFail, prometheus.CounterValue, float64(sum.Failed), name)
		ch <- prometheus.MustNewConstMetric(descMailDrop, prometheus.CounterValue, float64(sum.Dropped), name)
	}
	for _, p := range r.publisherStatus() {
		ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(p.Sent), name, p.Sink)
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(p.Pending), name, p.Sink)
		ch <- prometheus.MustNewConstMetric(descOutDrop, prometheus.CounterValue, float64(p.Dropped), name, p.Sink)
		ch <- prometheus.MustNewConstMetric(descPubErrs, prometheus.CounterValue, float64(p.Errors), name, p.Sink)
	}
}

// buildInfoGauge is logjail_build_info: always 1, the build in its labels
// (revision is the full commit, "" when the build has no VCS stamp).
func buildInfoGauge(b buildinfo.Info) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "logjail_build_info",
		Help:        "Always 1; the labels say which build of logjail runs (version, VCS revision, Go version).",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	}, func() float64 { return 1 })
}

// serveMetrics serves /metrics on addr until ctx is done.
func (d *Daemon) serveMetrics(ctx context.Context, addr string) error {
	reg := prometheus.NewRegistry()
	// Beside logjail's own: which build runs, and the standard Go runtime
	// (go_*) and process (process_*) series every Go exporter has.
	reg.MustRegister(metrics{d: d}, buildInfoGauge(d.opts.Build),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	d.log.Info("metrics", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
