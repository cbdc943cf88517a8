package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sort"
	"time"
)

// metric is one sample in the Prometheus text format.
type metric struct {
	name, help, kind string
	labels           string // already formatted: {a="b"} or ""
	value            float64
}

// collect gathers the agent's counters. It reads atomics only and may run
// concurrently with the pipeline.
func (a *agent) collect() []metric {
	bs, es := a.batcher.Stats(), a.engine.Stats()
	ms := []metric{
		{"rivulet_messages_total", "MQTT messages committed to the ingest log (and acked).", "counter", "", float64(bs.Messages.Load())},
		{"rivulet_points_total", "Points committed to the ingest log.", "counter", "", float64(bs.Points.Load())},
		{"rivulet_batches_total", "Group commits.", "counter", "", float64(bs.Batches.Load())},
		{"rivulet_syncs_total", "fsyncs of the ingest log.", "counter", "", float64(bs.Syncs.Load())},
		{"rivulet_heartbeats_total", "Heartbeat entries written while idle.", "counter", "", float64(bs.Heartbeats.Load())},
		{"rivulet_redeliveries_deduplicated_total", "Redelivered messages found in the log and dropped.", "counter", "", float64(bs.Deduped.Load())},
		{"rivulet_dropped_total", "Messages dropped.", "counter", `{reason="qos0_queue_full"}`, float64(bs.Dropped.Load())},
		{"rivulet_source_blocked_seconds_total", "Time sources spent blocked on a full queue.", "counter", "", time.Duration(bs.BlockedNanos.Load()).Seconds()},
		{"rivulet_log_full_seconds_total", "Time commits waited for the ingest log to get below its cap.", "counter", "", time.Duration(bs.FullNanos.Load()).Seconds()},
		{"rivulet_last_batch_messages", "Messages in the last group commit.", "gauge", "", float64(bs.LastBatch.Load())},
		{"rivulet_queue_messages", "Messages waiting for the batcher.", "gauge", "", float64(bs.Queued())},
		{"rivulet_log_bytes", "Bytes on disk of the ingest log.", "gauge", "", float64(a.log.Size())},
		{"rivulet_log_last_index", "Index of the newest ingest log entry.", "gauge", "", float64(a.log.LastIndex())},
		{"rivulet_engine_index", "Index of the last entry the engine applied.", "gauge", "", float64(es.Index.Load())},
		{"rivulet_engine_points_total", "Points the engine applied.", "counter", "", float64(es.Points.Load())},
		{"rivulet_late_points_total", "Points that arrived after their window fired (dropped).", "counter", "", float64(es.Late.Load())},
		{"rivulet_results_total", "Window results produced.", "counter", "", float64(es.Results.Load())},
		{"rivulet_corrupt_records_total", "Damaged log records skipped (quarantined).", "counter", "", float64(es.Corrupt.Load())},
		{"rivulet_checkpoints_total", "Checkpoints written.", "counter", "", float64(es.Checkpoints.Load())},
		{"rivulet_quarantined_messages_total", "Messages that failed to decode, set aside in quarantine.", "counter", "", float64(a.quarantine.Count())},
		{"go_goroutines", "Goroutines.", "gauge", "", float64(runtime.NumGoroutine())},
	}
	ms = append(ms, a.sourceMetrics()...)
	ms = append(ms, a.sinkMetrics()...)
	names := make([]string, 0, len(a.outboxes))
	for name := range a.outboxes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n, b := a.outboxes[name].Backlog()
		l := fmt.Sprintf(`{sink=%q}`, name)
		ms = append(ms,
			metric{"rivulet_outbox_entries", "Outbox entries not yet delivered.", "gauge", l, float64(n)},
			metric{"rivulet_outbox_bytes", "Outbox bytes not yet delivered.", "gauge", l, float64(b)})
	}
	return ms
}

func (a *agent) sourceMetrics() []metric {
	var ms []metric
	for _, src := range a.sources {
		st, l := src.Stats(), fmt.Sprintf(`{source=%q}`, src.Name())
		up := 0.0
		if st.Connected {
			up = 1
		}
		ms = append(ms,
			metric{"rivulet_source_up", "1 while the source is connected to its broker.", "gauge", l, up},
			metric{"rivulet_source_messages_total", "Messages received from the broker.", "counter", l, float64(st.Received)},
			metric{"rivulet_source_decode_errors_total", "Messages quarantined because their payload did not decode.", "counter", l, float64(st.DecodeErrors)},
			metric{"rivulet_source_unrouted_total", "Messages quarantined because no topic rule matched.", "counter", l, float64(st.Unrouted)},
			metric{"rivulet_source_reconnects_total", "Reconnects to the broker.", "counter", l, float64(st.Reconnects)},
			metric{"rivulet_source_unacked_messages", "QoS 1 messages received and not yet acked (waiting to be durable).", "gauge", l, float64(st.Unacked)})
	}
	return ms
}

func (a *agent) sinkMetrics() []metric {
	var ms []metric
	for i, r := range a.runners {
		st, l := r.Stats(), fmt.Sprintf(`{sink=%q}`, a.cfg.Sinks[i].Name)
		ms = append(ms,
			metric{"rivulet_sink_points_total", "Points delivered upstream.", "counter", l, float64(st.DeliveredPoints)},
			metric{"rivulet_sink_requests_total", "Successful deliveries.", "counter", l, float64(st.DeliveredRequests)},
			metric{"rivulet_sink_retries_total", "Failed delivery attempts that will be retried.", "counter", l, float64(st.Retries)},
			metric{"rivulet_sink_dead_lettered_points_total", "Points the upstream rejected for good, kept in the dead-letter file.", "counter", l, float64(st.DeadLetteredPoints)},
			metric{"rivulet_sink_consecutive_failures", "Delivery failures since the last success.", "gauge", l, float64(st.ConsecutiveFailures)})
	}
	return ms
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

func writeMetrics(w io.Writer, ms []metric) {
	seen := map[string]bool{}
	for _, m := range ms {
		if !seen[m.name] {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.kind)
			seen[m.name] = true
		}
		fmt.Fprintf(w, "%s%s %g\n", m.name, m.labels, m.value)
	}
}

// serveHTTP serves /metrics and /healthz on addr until ctx is done.
func (a *agent) serveHTTP(ctx context.Context, addr string, logger *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		writeMetrics(w, a.collect())
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", addr, err)
	}
	logger.Info("metrics listening", "addr", ln.Addr().String())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
