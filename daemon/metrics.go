package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics exposes the daemon's counters to Prometheus. Values are read
// from the pipelines at scrape time (through their goroutines), so the hot
// path keeps no extra counters.
type metrics struct{ d *Daemon }

var (
	descFailures  = prometheus.NewDesc("logjail_failures_total", "Failures recognised, per pipeline.", []string{"pipeline"}, nil)
	descBans      = prometheus.NewDesc("logjail_bans_total", "Bans decided, per pipeline.", []string{"pipeline"}, nil)
	descActive    = prometheus.NewDesc("logjail_active_bans", "Bans in force, per pipeline.", []string{"pipeline"}, nil)
	descFailing   = prometheus.NewDesc("logjail_tracked_addresses", "Addresses (or prefixes) with failures in the window, per pipeline.", []string{"pipeline"}, nil)
	descEnforce   = prometheus.NewDesc("logjail_enforce_errors_total", "Firewall operations that failed, per pipeline.", []string{"pipeline"}, nil)
	descQueue     = prometheus.NewDesc("logjail_queue_depth", "Entries waiting between the sources and the pipeline.", []string{"pipeline"}, nil)
	descRead      = prometheus.NewDesc("logjail_source_entries_total", "Entries read, per source.", []string{"pipeline", "source"}, nil)
	descSkipped   = prometheus.NewDesc("logjail_source_skipped_total", "Records skipped as bad input, per source.", []string{"pipeline", "source"}, nil)
	descDropped   = prometheus.NewDesc("logjail_source_dropped_total", "Records dropped because the queue was full, per source.", []string{"pipeline", "source"}, nil)
	descRestores  = prometheus.NewDesc("logjail_firewall_restores_total", "Times the nftables table was rebuilt after another program changed it.", nil, nil)
	descSent      = prometheus.NewDesc("logjail_nats_published_total", "Messages (ban events, fleet failures and bans) the NATS server acknowledged, per pipeline and outbox.", []string{"pipeline", "sink"}, nil)
	descPending   = prometheus.NewDesc("logjail_nats_outbox_pending", "Messages waiting on disk for NATS, per pipeline and outbox.", []string{"pipeline", "sink"}, nil)
	descOutDrop   = prometheus.NewDesc("logjail_nats_outbox_dropped_total", "Messages dropped because the outbox was full, per pipeline and outbox.", []string{"pipeline", "sink"}, nil)
	descPubErrs   = prometheus.NewDesc("logjail_nats_publish_errors_total", "Failed publish rounds (retried), per pipeline and outbox.", []string{"pipeline", "sink"}, nil)
	descPipelines = prometheus.NewDesc("logjail_pipeline_up", "1 for a running pipeline, 0 for one that could not start.", []string{"pipeline"}, nil)
)

func (m metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFailures, descBans, descActive, descFailing, descEnforce, descQueue, descRead, descSkipped, descDropped, descRestores, descPipelines, descSent, descPending, descOutDrop, descPubErrs} {
		ch <- d
	}
}

func (m metrics) Collect(ch chan<- prometheus.Metric) {
	d := m.d
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, name := range d.pipelineNames() {
		r, ok := d.pipeline(name)
		if !ok {
			continue
		}
		var failed, banned uint64
		var active, tracked int
		var enforceErrors uint64
		err := r.call(ctx, func() {
			st := r.stages.Tracker.Stats()
			failed, banned, active, tracked, enforceErrors = st.TotalFailed, st.TotalBanned, st.CurrentlyBanned, st.CurrentlyFailed, r.enforceErrors
		})
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descPipelines, prometheus.GaugeValue, 1, name)
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(failed), name)
		ch <- prometheus.MustNewConstMetric(descBans, prometheus.CounterValue, float64(banned), name)
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(active), name)
		ch <- prometheus.MustNewConstMetric(descFailing, prometheus.GaugeValue, float64(tracked), name)
		ch <- prometheus.MustNewConstMetric(descEnforce, prometheus.CounterValue, float64(enforceErrors), name)
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(len(r.entries)), name)
		for _, src := range r.stages.Sources {
			s := src.Stats()
			ch <- prometheus.MustNewConstMetric(descRead, prometheus.CounterValue, float64(s.Read), name, src.Describe())
			ch <- prometheus.MustNewConstMetric(descSkipped, prometheus.CounterValue, float64(s.Skipped), name, src.Describe())
			ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.Dropped), name, src.Describe())
		}
		for _, p := range r.publisherStatus() {
			ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(p.Sent), name, p.Sink)
			ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(p.Pending), name, p.Sink)
			ch <- prometheus.MustNewConstMetric(descOutDrop, prometheus.CounterValue, float64(p.Dropped), name, p.Sink)
			ch <- prometheus.MustNewConstMetric(descPubErrs, prometheus.CounterValue, float64(p.Errors), name, p.Sink)
		}
	}
	d.mu.RLock()
	for name := range d.failed {
		ch <- prometheus.MustNewConstMetric(descPipelines, prometheus.GaugeValue, 0, name)
	}
	d.mu.RUnlock()
	var restores uint64
	if d.firewall != nil {
		restores = d.firewall.restores.Load()
	}
	ch <- prometheus.MustNewConstMetric(descRestores, prometheus.CounterValue, float64(restores))
}

// serveMetrics serves /metrics on addr until ctx is done.
func (d *Daemon) serveMetrics(ctx context.Context, addr string) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics{d: d})
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
