package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rivulet-edge/rivulet/batcher"
	"github.com/rivulet-edge/rivulet/engine"
	"github.com/rivulet-edge/rivulet/forward"
)

// processStart is when the process started, near enough: package
// variables are set before main runs.
var processStart = time.Now()

// metric is one sample in the Prometheus text format. Samples of one
// family share name, help and kind; a histogram's samples add a suffix
// (_bucket, _sum, _count) to the family name.
type metric struct {
	name, help, kind string
	suffix           string
	labels           []label
	value            float64
}

type label struct{ key, value string }

// series is the sample's name and labels as the text format writes them,
// e.g. rivulet_outbox_entries{sink="cloud"}; /api/status keys its numbers
// by it too.
func (m metric) series() string {
	if len(m.labels) == 0 {
		return m.name + m.suffix
	}
	parts := make([]string, len(m.labels))
	for i, l := range m.labels {
		parts[i] = l.key + `="` + escapeLabel(l.value) + `"`
	}
	return m.name + m.suffix + "{" + strings.Join(parts, ",") + "}"
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// sample is one reading of everything the agent reports. /metrics and
// /api/status both render a sample, so they cannot disagree.
type sample struct {
	at      time.Time
	metrics []metric
	sinks   []forward.RunnerStats // in the order of cfg.Sinks
}

// metricSet accumulates metrics; add takes label keys and values in turn.
type metricSet []metric

func (ms *metricSet) add(name, kind, help string, v float64, kv ...string) {
	m := metric{name: name, kind: kind, help: help, value: v}
	for i := 0; i+1 < len(kv); i += 2 {
		m.labels = append(m.labels, label{kv[i], kv[i+1]})
	}
	*ms = append(*ms, m)
}

// histogram adds the samples of h; scale converts its unit (e.g. ns to s).
func (ms *metricSet) histogram(name, help string, h *batcher.Histogram, scale float64) {
	counts, sum := h.Snapshot()
	var cum uint64
	for i, c := range counts {
		cum += c
		le := "+Inf"
		if i < len(h.Bounds()) {
			le = strconv.FormatFloat(float64(h.Bounds()[i])*scale, 'g', -1, 64)
		}
		*ms = append(*ms, metric{name: name, kind: "histogram", help: help, suffix: "_bucket",
			labels: []label{{"le", le}}, value: float64(cum)})
	}
	*ms = append(*ms,
		metric{name: name, kind: "histogram", help: help, suffix: "_sum", value: float64(sum) * scale},
		metric{name: name, kind: "histogram", help: help, suffix: "_count", value: float64(cum)})
}

// collect reads the agent's counters. It reads atomics and snapshots only
// and may run concurrently with the pipeline.
func (a *agent) collect() *sample {
	s := &sample{at: time.Now()}
	var ms metricSet
	ms.add("rivulet_build_info", "gauge", "Always 1; the labels tell the build.", 1, "version", version, "commit", commit)
	ms.add("process_start_time_seconds", "gauge", "Start time of the process, in seconds since the epoch.",
		float64(processStart.UnixNano())/1e9)
	a.batcherMetrics(&ms)
	a.engineMetrics(&ms, s.at)
	a.sourceMetrics(&ms)
	s.sinks = a.sinkMetrics(&ms, s.at)
	runtimeMetrics(&ms)
	s.metrics = ms
	return s
}

func (a *agent) batcherMetrics(ms *metricSet) {
	bs := a.batcher.Stats()
	ms.add("rivulet_messages_total", "counter", "MQTT messages committed to the ingest log (and acked).", float64(bs.Messages.Load()))
	ms.add("rivulet_points_total", "counter", "Points committed to the ingest log.", float64(bs.Points.Load()))
	ms.add("rivulet_batches_total", "counter", "Group commits.", float64(bs.Batches.Load()))
	ms.add("rivulet_syncs_total", "counter", "fsyncs of the ingest log: group commits, segment rotations, truncations, rollbacks.", float64(a.log.Syncs()))
	ms.add("rivulet_commit_syncs_total", "counter", "fsyncs of the ingest log by group commits.", float64(bs.Syncs.Load()))
	ms.add("rivulet_heartbeats_total", "counter", "Heartbeat entries written while idle.", float64(bs.Heartbeats.Load()))
	ms.add("rivulet_redeliveries_deduplicated_total", "counter", "Redelivered messages found in the log and dropped.", float64(bs.Deduped.Load()))
	ms.add("rivulet_redeliveries_unmatched_total", "counter", "Messages marked as redeliveries whose original was not found, kept as new (their original never reached the agent, or it did and they are duplicates).", float64(bs.DupUnmatched.Load()))
	// Drops are counted in messages. Late points are points, dropped after
	// the log, and have their own counter (rivulet_late_points_total).
	const dropped = "Messages that never reached the ingest log, by reason: qos0_queue_full (lost), quarantined (payload undecodable or unrouted, kept in data_dir/quarantine)."
	quarantined := float64(a.quarantine.Count())
	ms.add("rivulet_dropped_total", "counter", dropped, float64(bs.Dropped.Load()), "reason", "qos0_queue_full")
	ms.add("rivulet_dropped_total", "counter", dropped, quarantined, "reason", "quarantined")
	ms.add("rivulet_quarantined_messages_total", "counter", "Messages that failed to decode or matched no topic rule, set aside in quarantine.", quarantined)
	ms.add("rivulet_source_blocked_seconds_total", "counter", "Time sources spent blocked on a full queue.", time.Duration(bs.BlockedNanos.Load()).Seconds())
	ms.add("rivulet_log_full_seconds_total", "counter", "Time commits waited for the ingest log to get below its cap.", time.Duration(bs.FullNanos.Load()).Seconds())
	ms.add("rivulet_last_batch_messages", "gauge", "Messages in the last group commit.", float64(bs.LastBatch.Load()))
	ms.add("rivulet_queue_messages", "gauge", "Messages waiting for the batcher.", float64(bs.Queued()))
	ms.histogram("rivulet_batch_messages", "Messages per group commit.", bs.BatchSize, 1)
	ms.histogram("rivulet_ack_latency_seconds", "Time from queueing the oldest message of a group commit to its ack (durable in the log).", bs.AckLatency, 1e-9)
}

func (a *agent) engineMetrics(ms *metricSet, now time.Time) {
	es := a.engine.Stats()
	first, last := a.log.FirstIndex(), a.log.LastIndex()
	entries := 0.0
	if last >= first && last > 0 {
		entries = float64(last - first + 1)
	}
	ms.add("rivulet_log_bytes", "gauge", "Bytes on disk of the ingest log.", float64(a.log.Size()))
	lp, stored := a.log.Written()
	ms.add("rivulet_log_points_bytes_total", "counter", "Bytes of line protocol appended to the ingest log.", float64(lp))
	ms.add("rivulet_log_written_bytes_total", "counter", "Bytes the ingest log's appends took in its files (compressed when wal.compression is s2).", float64(stored))
	ms.add("rivulet_log_entries", "gauge", "Entries in the ingest log (not yet truncated by a checkpoint).", entries)
	ms.add("rivulet_log_last_index", "gauge", "Index of the newest ingest log entry.", float64(last))
	ms.add("rivulet_engine_index", "gauge", "Index of the last entry the engine applied.", float64(es.Index.Load()))
	ms.add("rivulet_engine_points_total", "counter", "Points the engine applied.", float64(es.Points.Load()))
	ms.add("rivulet_late_points_total", "counter", "Points that arrived after their window fired, all steps and outcomes.", float64(es.Late.Load()))
	ms.add("rivulet_results_total", "counter", "Window results produced.", float64(es.Results.Load()))
	ms.add("rivulet_corrupt_records_total", "counter", "Damaged log records skipped (quarantined).", float64(es.Corrupt.Load()))
	ms.add("rivulet_checkpoints_total", "counter", "Checkpoints written.", float64(es.Checkpoints.Load()))
	since := processStart
	if t := es.LastCheckpoint.Load(); t != 0 {
		since = time.Unix(0, t)
	}
	ms.add("rivulet_checkpoint_age_seconds", "gauge", "Seconds since the last checkpoint (since the start before this process wrote one).", max(0, now.Sub(since).Seconds()))
	ms.add("rivulet_open_windows", "gauge", "Windows open, summed over the pipeline steps.", float64(es.Windows.Load()))
	ms.add("rivulet_open_series", "gauge", "Keyed states open (window groups, series), summed over the pipeline steps.", float64(es.Series.Load()))
	for _, st := range es.StepStats() {
		ms.add("rivulet_step_series", "gauge", "Keyed states a step holds (window groups or series).", float64(st.Series), "step", st.Name)
		for _, o := range []struct {
			outcome string
			n       uint64
		}{{"dropped", st.LateDropped}, {"updated", st.LateUpdated}, {"side", st.LateSide}} {
			ms.add("rivulet_step_late_points_total", "counter", "Late points of a step by outcome: dropped, updated (window emitted again), side (sent to late_to).", float64(o.n), "step", st.Name, "outcome", o.outcome)
		}
		ms.add("rivulet_step_refused_total", "counter", "Points refused because the step holds max_series states.", float64(st.Refused), "step", st.Name)
		ms.add("rivulet_step_expired_total", "counter", "Keyed states dropped by their TTL.", float64(st.Expired), "step", st.Name)
		ms.add("rivulet_step_out_of_order_total", "counter", "Points a per-series operator skipped for arriving behind the series' previous point.", float64(st.OutOfOrder), "step", st.Name)
		ms.add("rivulet_step_errors_total", "counter", "Points a step's where/map expressions failed on (the entry was skipped or the point dropped).", float64(st.Errors), "step", st.Name)
	}
}

func (a *agent) sourceMetrics(ms *metricSet) {
	for _, src := range a.sources {
		st, n := src.Stats(), src.Name()
		up := 0.0
		if st.Connected {
			up = 1
		}
		ms.add("rivulet_source_up", "gauge", "1 while the source is connected to its broker.", up, "source", n)
		ms.add("rivulet_source_messages_total", "counter", "Messages received from the broker.", float64(st.Received), "source", n)
		ms.add("rivulet_source_decode_errors_total", "counter", "Messages quarantined because their payload did not decode.", float64(st.DecodeErrors), "source", n)
		ms.add("rivulet_source_unrouted_total", "counter", "Messages quarantined because no topic rule matched.", float64(st.Unrouted), "source", n)
		ms.add("rivulet_source_reconnects_total", "counter", "Reconnects to the broker.", float64(st.Reconnects), "source", n)
		ms.add("rivulet_source_unacked_messages", "gauge", "QoS 1 messages received and not yet acked (waiting to be durable).", float64(st.Unacked), "source", n)
	}
}

// sinkMetrics adds delivery and outbox metrics and returns the runners'
// snapshots it read them from.
func (a *agent) sinkMetrics(ms *metricSet, now time.Time) []forward.RunnerStats {
	var out []forward.RunnerStats
	for i, r := range a.runners {
		st, n := r.Stats(), a.cfg.Sinks[i].Name
		out = append(out, st)
		ms.add("rivulet_sink_points_total", "counter", "Points delivered upstream.", float64(st.DeliveredPoints), "sink", n)
		ms.add("rivulet_sink_requests_total", "counter", "Successful deliveries.", float64(st.DeliveredRequests), "sink", n)
		ms.add("rivulet_sink_retries_total", "counter", "Failed delivery attempts that will be retried.", float64(st.Retries), "sink", n)
		ms.add("rivulet_sink_dead_lettered_points_total", "counter", "Points the upstream rejected for good, kept in the dead-letter file.", float64(st.DeadLetteredPoints), "sink", n)
		ms.add("rivulet_sink_consecutive_failures", "gauge", "Delivery failures since the last success.", float64(st.ConsecutiveFailures), "sink", n)
		ms.add("rivulet_sink_expired_points_total", "counter", "Points dropped unsent because they were older than the lane's ttl.", float64(st.ExpiredPoints), "sink", n)
		var dropped uint64
		for _, l := range sinkLanes {
			if b := a.outboxes[n+l.suffix]; b != nil {
				dropped += b.Dropped()
			}
		}
		ms.add("rivulet_sink_dropped_points_total", "counter", "Points dropped unsent, by reason: full (max_backlog reached with on_full: drop_oldest).", float64(dropped), "sink", n, "reason", "full")
		box := a.outboxes[n]
		if box == nil {
			continue
		}
		entries, size := box.Backlog()
		age := 0.0
		if t := box.Oldest(); !t.IsZero() {
			age = max(0, now.Sub(t).Seconds())
		}
		ms.add("rivulet_outbox_entries", "gauge", "Outbox entries not yet delivered.", float64(entries), "sink", n)
		ms.add("rivulet_outbox_bytes", "gauge", "Outbox bytes not yet delivered.", float64(size), "sink", n)
		ms.add("rivulet_outbox_oldest_age_seconds", "gauge", "Seconds since the oldest undelivered outbox entry was appended (to the second; entries from before a restart count from the restart); 0 when empty.", age, "sink", n)
		if abox := a.outboxes[n+engine.AlertLane]; abox != nil {
			entries, size := abox.Backlog()
			ms.add("rivulet_alert_outbox_entries", "gauge", "Entries of the sink's alert lane not yet delivered (alerts go before the other results).", float64(entries), "sink", n)
			ms.add("rivulet_alert_outbox_bytes", "gauge", "Bytes of the sink's alert lane not yet delivered.", float64(size), "sink", n)
		}
		if rbox := a.outboxes[n+engine.RawLane]; rbox != nil {
			entries, size := rbox.Backlog()
			ms.add("rivulet_raw_outbox_entries", "gauge", "Entries of the sink's raw-point lane (pass_to, late_to) not yet delivered; it goes after the results.", float64(entries), "sink", n)
			ms.add("rivulet_raw_outbox_bytes", "gauge", "Bytes of the sink's raw-point lane not yet delivered.", float64(size), "sink", n)
		}
	}
	return out
}

// rtSamples are the runtime/metrics read on every collection; the reads
// are cheap and do not stop the world.
var (
	rtMu      sync.Mutex
	rtSamples = []metrics.Sample{
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
)

func runtimeMetrics(ms *metricSet) {
	rtMu.Lock()
	metrics.Read(rtSamples)
	v := make([]float64, len(rtSamples))
	for i, s := range rtSamples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = float64(s.Value.Uint64())
		}
	}
	rtMu.Unlock()
	ms.add("go_goroutines", "gauge", "Goroutines.", v[0])
	ms.add("go_memstats_heap_alloc_bytes", "gauge", "Bytes of allocated heap objects.", v[1])
	ms.add("go_memstats_sys_bytes", "gauge", "Bytes of memory mapped by the Go runtime.", v[2])
	ms.add("go_gc_cycles_total", "counter", "Completed GC cycles.", v[3])
	if rss, ok := residentBytes(); ok {
		ms.add("process_resident_memory_bytes", "gauge", "Resident memory of the process.", rss)
	}
}

// residentBytes reads the resident set size from /proc (Linux only).
func residentBytes() (float64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return float64(pages) * float64(os.Getpagesize()), true
}

// writeMetrics writes ms in the Prometheus text format, the samples of each
// family together, families in order of first appearance.
func writeMetrics(w io.Writer, ms []metric) {
	var order []string
	families := map[string][]metric{}
	for _, m := range ms {
		if _, ok := families[m.name]; !ok {
			order = append(order, m.name)
		}
		families[m.name] = append(families[m.name], m)
	}
	for _, name := range order {
		f := families[name]
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, f[0].help, name, f[0].kind)
		for _, m := range f {
			fmt.Fprintf(w, "%s %s\n", m.series(), formatValue(m.value))
		}
	}
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// logStatus writes one summary line every interval, so that a person
// reading the journal can tell that data flows.
func (a *agent) logStatus(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		bs, es := a.batcher.Stats(), a.engine.Stats()
		backlog := 0
		for _, b := range a.outboxes {
			n, _ := b.Backlog()
			backlog += n
		}
		a.logger.Info("status", "messages", bs.Messages.Load(), "points", bs.Points.Load(),
			"results", es.Results.Load(), "late_points", es.Late.Load(), "quarantined", a.quarantine.Count(),
			"outbox_backlog", backlog, "log_bytes", a.log.Size())
	}
}
