package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/enforce/mail"
	enfnats "github.com/logjail/logjail/enforce/nats"
	"github.com/logjail/logjail/ingest/bans"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/pipelines"
	"github.com/prometheus/client_golang/prometheus"
)

const dashboardPath = "../cmd/logjail/grafana/logjail-dashboard.json"

// addrHandler is a slog handler that reports the address serveMetrics
// listens on (its "metrics" record), so the endpoint can listen on port 0.
type addrHandler struct{ addr chan string }

func (h addrHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h addrHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h addrHandler) WithGroup(string) slog.Handler            { return h }
func (h addrHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "metrics" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "addr" {
			select {
			case h.addr <- a.Value.String():
			default:
			}
			return false
		}
		return true
	})
	return nil
}

func newAddrLogger() (*slog.Logger, chan string) {
	ch := make(chan string, 1)
	return slog.New(addrHandler{addr: ch}), ch
}

func metricsAddr(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("the metrics endpoint did not start")
		return ""
	}
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s %v\n%s", resp.Status, err, b)
	}
	return string(b)
}

// sample returns the value of the sample whose name and labels are series
// exactly (`name{a="x",b="y"}`, labels in exposition order).
func sample(t *testing.T, body, series string) float64 {
	t.Helper()
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("no sample %s in:\n%s", series, body)
	return 0
}

// families lists the metric families of a scrape with their types.
func families(body string) map[string]string {
	out := map[string]string{}
	for line := range strings.Lines(body) {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = f[3]
		}
	}
	return out
}

// TestMetricsEndpoint runs a dry-run daemon with --metrics on port 0,
// feeds it failures, bans and unbans, and checks the scrape.
func TestMetricsEndpoint(t *testing.T) {
	st, addr := metricsRun(t)
	entries := st.Filter.Matched + st.Filter.Missed + st.Filter.Ignored + st.Filter.BadAddress
	body := scrape(t, addr)
	checkSeries(t, body, st.Sources[0].Watching, entries)
	checkMatchHistogram(t, body, entries)

	// Everything the dashboard plots is in the scrape (the NATS publisher
	// metrics need a nats enforcer, which a dry run replaces: they come
	// from scrapeNATS).
	checkDashboard(t, body, scrapeNATS(t))
}

// metricsRun runs a daemon with metrics through failures, a ban, a manual
// ban and an unban of all, and returns pipeline a's status and the
// metrics address.
func metricsRun(t *testing.T) (PipelineStatus, string) {
	dir := t.TempDir()
	logA := testkit.WriteFile(t, dir, "a.log", "")
	c := loadConfig(t, dir, "pipelines:\n  a:\n    enabled: true\n    maxretry: 3\n    bantime: 1h\n    ingest: [{file: {paths: ["+logA+"], poll: 100ms}}]\n    match: {filter: sshd}\n")
	log, addrs := newAddrLogger()
	cl, addr := runWithMetrics(t, dir, c, log, addrs)
	bg := context.Background()
	// The file is followed from its end: write until the source reads.
	waitSourceRead(t, cl, "a", logA, "sshd[1]: Server listening on :: port 22.")
	var lines []string
	for i := range 40 {
		lines = append(lines, fmt.Sprintf("sshd[%d]: Connection closed by 192.0.2.1 port %d [preauth]", 100+i, 1000+i))
	}
	for i := range 3 {
		lines = append(lines, fmt.Sprintf("sshd[%d]: Failed password for root from 203.0.113.7 port %d ssh2", 200+i, 2000+i))
	}
	lines = append(lines, "sshd[300]: Failed password for root from 198.51.100.9 port 3000 ssh2")
	appendLog(t, logA, lines...)
	waitPipeline(t, cl, "a", "four failures and a ban", func(st PipelineStatus) bool {
		return st.Filter.TotalFailed == 4 && st.Actions.TotalBanned == 1
	})
	if _, err := cl.Ban(bg, BanRequest{Pipeline: "a", Addr: "192.0.2.50"}); err != nil {
		t.Fatal(err)
	}
	if res, err := cl.Unban(bg, UnbanRequest{All: true}); err != nil || res.Count != 2 {
		t.Fatalf("unban --all: %+v %v", res, err)
	}
	st, _ := cl.PipelineStatus(bg, "a")
	entries := st.Filter.Matched + st.Filter.Missed + st.Filter.Ignored + st.Filter.BadAddress
	if entries < 44 || st.Sources[0].Read != entries {
		t.Fatalf("status %+v", st)
	}
	return st, addr
}

// checkSeries compares the scraped series with the run's counts.
func checkSeries(t *testing.T, body, src string, entries uint64) {
	t.Helper()
	for series, want := range map[string]float64{
		`logjail_pipeline_up{pipeline="a"}`:                               1,
		`logjail_failures_total{pipeline="a"}`:                            4,
		`logjail_bans_total{pipeline="a"}`:                                2,
		`logjail_unbans_total{pipeline="a"}`:                              2,
		`logjail_active_bans{pipeline="a"}`:                               0,
		`logjail_tracked_addresses{pipeline="a"}`:                         1,
		`logjail_enforce_errors_total{pipeline="a"}`:                      0,
		`logjail_commit_errors_total{pipeline="a"}`:                       0,
		`logjail_queue_depth{pipeline="a"}`:                               0,
		`logjail_connections_evicted_total{pipeline="a"}`:                 0,
		`logjail_firewall_restores_total`:                                 0,
		`logjail_source_entries_total{pipeline="a",source="` + src + `"}`: float64(entries),
		`logjail_source_skipped_total{pipeline="a",source="` + src + `"}`: 0,
		`logjail_source_dropped_total{pipeline="a",source="` + src + `"}`: 0,
		`logjail_source_errors_total{pipeline="a",source="` + src + `"}`:  0,
		`logjail_match_duration_seconds_count{pipeline="a"}`:              float64(entries / matchSampleEvery),
		`logjail_match_duration_seconds_bucket{pipeline="a",le="+Inf"}`:   float64(entries / matchSampleEvery),
	} {
		if got := sample(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// checkMatchHistogram: the histogram is cumulative, counts the sampled
// entries, and its sum is a plausible time in seconds.
func checkMatchHistogram(t *testing.T, body string, entries uint64) {
	t.Helper()
	count := sample(t, body, `logjail_match_duration_seconds_count{pipeline="a"}`)
	if count <= 0 {
		t.Errorf("match latency histogram is empty (entries %d)", entries)
	}
	var prev float64
	buckets := 0
	for line := range strings.Lines(body) {
		rest, ok := strings.CutPrefix(line, `logjail_match_duration_seconds_bucket{pipeline="a",le="`)
		if !ok {
			continue
		}
		buckets++
		v, _ := strconv.ParseFloat(strings.Fields(rest)[1], 64)
		if v < prev {
			t.Errorf("buckets not cumulative: %s", line)
		}
		prev = v
	}
	if buckets != len(matchBuckets)+1 || prev != count {
		t.Errorf("%d buckets, +Inf %v, count %v", buckets, prev, count)
	}
	if sum := sample(t, body, `logjail_match_duration_seconds_sum{pipeline="a"}`); sum <= 0 || sum > count {
		t.Errorf("match latency sum %v s for %v entries", sum, count)
	}
}

// scrapeNATS scrapes a daemon whose pipeline has a nats enforcer (which a
// dry run does not start): the runner is built here, with a publisher
// that never connects, so its ban waits in the outbox.
func scrapeNATS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	c := loadConfig(t, dir, "pipelines:\n  n:\n    enabled: true\n    ingest: [{file: {paths: ["+filepath.Join(dir, "n.log")+"]}}]\n    match: {failregex: ['^denied <HOST>$']}\n    enforce: [{nats: {url: 'nats://127.0.0.1:1', subject: logjail.test}}]\n")
	store := openStore(t, dir)
	log, addrs := newAddrLogger()
	p := c.Enabled()[0]
	st, err := pipelines.Build(p, pipelines.Deps{Positions: store.Scoped(p.Name), Bans: bans.NewBus(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := enfnats.NewPublisher(enfnats.PublisherConfig{Conn: p.Enforce[0].NATS.Conn(), Sink: "events/n/logjail.test"}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A mailer whose server never answers: what it would send stays queued.
	mailer, err := mail.NewPool(nil).Use(mail.Config{To: []string{"root@example.org"}, From: "logjail@example.org", SMTP: mail.SMTP{Addr: "127.0.0.1:1", TLS: "none"}}, "n")
	if err != nil {
		t.Fatal(err)
	}
	defer mailer.Stop()
	r := newRunner(st, enforce.Multi{enfnats.NewBanEvents(pub, "logjail.test", "test"), mailer}, store, log, time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		r.run(ctx)
	}()
	defer func() { cancel(); <-r.done }()
	d := &Daemon{store: store, log: log, runners: map[string]*runner{"n": r}, order: []string{"n"}, failed: map[string]string{"broken": "no journal"}}
	mctx, mcancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- d.serveMetrics(mctx, "127.0.0.1:0") }()
	defer func() {
		mcancel()
		if err := <-served; err != nil {
			t.Errorf("serveMetrics: %v", err)
		}
	}()
	addr := metricsAddr(t, addrs)
	err = r.call(ctx, func() {
		p := netip.MustParsePrefix("203.0.113.1/32")
		ban, _ := r.stages.Tracker.Ban(p, time.Hour, "manual", r.now(), r.stages.Tracker.Gate().Admit(p))
		r.apply(ban)
		r.commit()
	})
	if err != nil {
		t.Fatal(err)
	}
	body := scrape(t, addr)
	for series, want := range map[string]float64{
		`logjail_pipeline_up{pipeline="n"}`:                                            1,
		`logjail_pipeline_up{pipeline="broken"}`:                                       0,
		`logjail_bans_total{pipeline="n"}`:                                             1,
		`logjail_nats_outbox_pending{pipeline="n",sink="events/n/logjail.test"}`:       1,
		`logjail_mail_queued{pipeline="n"}`:                                            1,
		`logjail_mail_sent_total{pipeline="n"}`:                                        0,
		`logjail_nats_published_total{pipeline="n",sink="events/n/logjail.test"}`:      0,
		`logjail_nats_outbox_dropped_total{pipeline="n",sink="events/n/logjail.test"}`: 0,
		`logjail_nats_publish_errors_total{pipeline="n",sink="events/n/logjail.test"}`: 0,
	} {
		if got := sample(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	return body
}

var metricName = regexp.MustCompile(`logjail_[a-z_]+`)

// dashboard is what checkDashboard reads of the Grafana dashboard.
type dashboard struct {
	Inputs []struct {
		Name     string `json:"name"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	Panels []struct {
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

// checkDashboard checks the Grafana dashboard against the scrapes: every
// metric its queries name exists, and every metric logjail exports is
// plotted.
func checkDashboard(t *testing.T, scrapes ...string) {
	t.Helper()
	plotted := checkQueries(t, dashboardQueries(t), scrapes)
	checkPlotted(t, plotted)
}

// dashboardQueries checks the dashboard's datasources and returns the
// queries of its variables and panels.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash dashboard
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if len(dash.Inputs) != 1 || dash.Inputs[0].Name != "DS_PROMETHEUS" || dash.Inputs[0].PluginID != "prometheus" {
		t.Errorf("datasource inputs %+v", dash.Inputs)
	}
	var exprs []string
	for _, v := range dash.Templating.List {
		if v.Name == "pipeline" && v.Definition != "label_values(logjail_pipeline_up, pipeline)" {
			t.Errorf("pipeline variable: %q", v.Definition)
		}
		exprs = append(exprs, v.Definition)
	}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${DS_PROMETHEUS}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %q, %d queries", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

// checkQueries: every metric the queries name is in a scrape. It returns
// the metric families plotted.
func checkQueries(t *testing.T, exprs, scrapes []string) map[string]bool {
	t.Helper()
	fams := map[string]string{}
	for _, s := range scrapes {
		for name, typ := range families(s) {
			fams[name] = typ
		}
	}
	plotted := map[string]bool{}
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			family := name
			if _, ok := fams[name]; !ok {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if base, ok := strings.CutSuffix(name, suffix); ok && fams[base] == "histogram" {
						family = base
					}
				}
			}
			if _, ok := fams[family]; !ok {
				t.Errorf("the dashboard queries %s, which logjail does not export (in %s)", name, e)
			}
			plotted[family] = true
		}
	}
	return plotted
}

// checkPlotted: every metric logjail describes is on the dashboard.
func checkPlotted(t *testing.T, plotted map[string]bool) {
	t.Helper()
	descs := make(chan *prometheus.Desc, 64)
	metrics{}.Describe(descs)
	close(descs)
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	var missing []string
	for d := range descs {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("desc %s", d)
		}
		if !plotted[m[1]] {
			missing = append(missing, m[1])
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Errorf("the dashboard does not plot %s", strings.Join(missing, ", "))
	}
}

// TestMetricsSourceHealth checks the series that make a silent source
// alertable: each source's state and the time of its last entry, and the
// syslog listener's rejected senders.
func TestMetricsSourceHealth(t *testing.T) {
	dir := t.TempDir()
	logA := testkit.WriteFile(t, dir, "a.log", "")
	c := loadConfig(t, dir, "pipelines:\n  h:\n    enabled: true\n    ingest:\n"+
		"      - file: {paths: ["+logA+"], poll: 100ms}\n"+
		"      - syslog: {listen: 'udp://127.0.0.1:0', allow: [192.0.2.0/24]}\n"+
		"    match: {filter: sshd}\n")
	log, addrs := newAddrLogger()
	cl, addr := runWithMetrics(t, dir, c, log, addrs)
	status := func() PipelineStatus {
		st, _ := cl.PipelineStatus(context.Background(), "h")
		return st
	}
	// The file is followed from its end: write until the source reads.
	testkit.WaitFor(t, 10*time.Second, func() error {
		appendLog(t, logA, "sshd[1]: Server listening on :: port 22.")
		st := status()
		return testkit.Check(len(st.Sources) == 2 && st.Sources[0].Read > 0 && strings.HasPrefix(st.Sources[1].Reason, "listening on "),
			"the file source reads and the syslog source listens: sources %+v", st.Sources)
	})
	// A sender outside allow (the test, from 127.0.0.1) is rejected.
	listen := strings.TrimSuffix(strings.TrimPrefix(status().Sources[1].Reason, "listening on "), "; no sender yet")
	conn, err := net.Dial("udp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("<38>Dec  7 03:00:00 gw sshd[9]: Failed password for root from 203.0.113.9 port 22 ssh2")); err != nil {
		t.Fatal(err)
	}
	waitPipeline(t, cl, "h", "the datagram rejected", func(st PipelineStatus) bool { return st.Sources[1].Rejected == 1 })

	st := status()
	file, sl := st.Sources[0], st.Sources[1]
	if file.State != "reading" || file.LastEntry == nil || sl.State != "waiting" || sl.LastEntry != nil || sl.Read != 0 || sl.Skipped != 0 {
		t.Fatalf("status %+v", st.Sources)
	}
	body := scrape(t, addr)
	for series, want := range map[string]float64{
		`logjail_source_state{pipeline="h",source="` + file.Watching + `",state="reading"}`:      1,
		`logjail_source_state{pipeline="h",source="` + file.Watching + `",state="waiting"}`:      0,
		`logjail_source_state{pipeline="h",source="` + file.Watching + `",state="unavailable"}`:  0,
		`logjail_source_state{pipeline="h",source="` + file.Watching + `",state="error"}`:        0,
		`logjail_source_state{pipeline="h",source="` + sl.Watching + `",state="waiting"}`:        1,
		`logjail_source_state{pipeline="h",source="` + sl.Watching + `",state="reading"}`:        0,
		`logjail_source_last_entry_timestamp_seconds{pipeline="h",source="` + sl.Watching + `"}`: 0,
		`logjail_source_rejected_total{pipeline="h",source="` + sl.Watching + `"}`:               1,
		`logjail_source_rejected_total{pipeline="h",source="` + file.Watching + `"}`:             0,
		`logjail_source_tls_handshake_failures_total{pipeline="h",source="` + sl.Watching + `"}`: 0,
		`logjail_source_skipped_total{pipeline="h",source="` + sl.Watching + `"}`:                0,
	} {
		if got := sample(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	// The last entry's time, in unix seconds, is the status's (no line
	// was written since).
	last := sample(t, body, `logjail_source_last_entry_timestamp_seconds{pipeline="h",source="`+file.Watching+`"}`)
	if want := float64(file.LastEntry.UnixNano()) / 1e9; math.Abs(last-want) > 1e-3 {
		t.Errorf("last entry %v s, want %v (%v)", last, want, file.LastEntry)
	}
	if fam := families(body); fam["logjail_source_last_entry_timestamp_seconds"] != "gauge" || fam["logjail_source_state"] != "gauge" ||
		fam["logjail_source_rejected_total"] != "counter" {
		t.Errorf("metric types %v", fam)
	}
}
