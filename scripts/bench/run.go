package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
)

func measureBare(o options, broker string, round int) (sample, error) {
	id := fmt.Sprintf("bench-bare-%d", round)
	if o.mode == "live" {
		return liveBare(o, broker, id)
	}
	self, err := os.Executable()
	if err != nil {
		return sample{}, err
	}
	// The first run only creates the persistent session.
	if out, err := exec.Command(self, "subscribe", broker, id, strconv.Itoa(int(o.traffic.qos)), "0").CombinedOutput(); err != nil {
		return sample{}, fmt.Errorf("%v: %s", err, out)
	}
	lp, err := queue(o, broker, o.messages)
	if err != nil {
		return sample{}, err
	}
	t0 := time.Now()
	b, err := startBare(broker, id, o.traffic.qos, o.messages)
	if err != nil {
		return sample{}, err
	}
	defer b.kill()
	select {
	case <-b.done:
	case <-time.After(10 * time.Minute):
		n, _ := b.count()
		return sample{}, fmt.Errorf("received %d of %d in 10 minutes", n, o.messages)
	}
	secs := time.Since(t0).Seconds()
	s, err := snapProc(b.cmd.Process.Pid)
	if err != nil {
		return sample{}, err
	}
	n := float64(o.messages)
	return sample{msgs: n / secs, points: n * float64(o.traffic.points) / secs,
		cpuPerMsg: float64(s.cpu.Microseconds()) / n, rssMB: float64(s.hwmKB) / 1024, anonMB: float64(s.anonPeakKB) / 1024,
		fsyncs: nan, logSyncs: nan, wbPerPoint: nan, wcPerPt: nan, lpPerPoint: lp,
		ackP50: nan, ackP99: nan, outP50: nan, outP99: nan, sinkP50: nan, sinkP99: nan, lost: 0, droppedInternal: nan}, nil
}

// liveBare measures the bare subscriber while the generator publishes.
func liveBare(o options, broker, id string) (sample, error) {
	b, err := startBare(broker, id+"-live", o.traffic.qos, -1)
	if err != nil {
		return sample{}, err
	}
	defer b.kill()
	pid := b.cmd.Process.Pid
	w, err := runLive(o, broker, func() (float64, float64, error) {
		n, err := b.count()
		return float64(n), float64(n) * float64(o.traffic.points), err
	}, pid, nil)
	if err != nil {
		return sample{}, err
	}
	s := w.sample(o)
	s.fsyncs, s.logSyncs, s.wbPerPoint, s.wcPerPt = nan, nan, nan, nan
	s.ackP50, s.ackP99, s.outP50, s.outP99, s.sinkP50, s.sinkP99, s.droppedInternal = nan, nan, nan, nan, nan, nan, nan
	return s, nil
}

// window is what a live measurement saw between the snapshots a and b.
type window struct {
	a, b       procSnap
	msgs, pts  float64 // received in the window
	sent       int64   // by the generator, in all
	pointsSent int64
	lpBytes    int64
	received   float64 // by the consumer in all, after the drain wait
	probes     int64   // probe messages sent inside the window
}

func (w window) secs() float64 { return w.b.at.Sub(w.a.at).Seconds() }

func (w window) sample(o options) sample {
	secs := w.secs()
	msgs := w.msgs - float64(w.probes)
	pts := w.pts - float64(w.probes)
	return sample{msgs: msgs / secs, points: pts / secs,
		cpuPerMsg:  float64((w.b.cpu - w.a.cpu).Microseconds()) / max(msgs, 1),
		rssMB:      float64(w.b.hwmKB) / 1024,
		anonMB:     float64(w.b.anonPeakKB) / 1024,
		wbPerPoint: float64(w.b.writeBytes-w.a.writeBytes) / max(pts, 1),
		wcPerPt:    float64(w.b.wchar-w.a.wchar) / max(pts, 1),
		lpPerPoint: float64(w.lpBytes) / float64(max(w.pointsSent, 1)),
		lost:       float64(w.sent) - w.received}
}

// runLive publishes o's traffic, measures pid over the window after the
// warm-up, then stops the load and waits (up to 20 s) until count stops
// growing. count returns the messages and points the consumer has taken.
// inWindow, if set, runs at the start of the window and its return runs
// at the end.
func runLive(o options, broker string, count func() (float64, float64, error), pid int,
	inWindow func() func()) (window, error) {
	var w window
	g, err := newGenerator(broker, "bench-load", o.traffic)
	if err != nil {
		return w, err
	}
	defer g.close()
	stop := make(chan struct{})
	genErr := make(chan error, 1)
	go func() { genErr <- g.run(o.rate, 0, stop) }()
	time.Sleep(o.warmup)
	m0, p0, err := count()
	if err != nil {
		close(stop)
		<-genErr
		return w, err
	}
	if w.a, err = snapProc(pid); err != nil {
		close(stop)
		<-genErr
		return w, err
	}
	var end func()
	if inWindow != nil {
		end = inWindow()
	}
	time.Sleep(o.duration)
	m1, p1, err := count()
	if err == nil {
		w.b, err = snapProc(pid)
	}
	if end != nil {
		end()
	}
	close(stop)
	if gerr := <-genErr; gerr != nil && err == nil {
		err = gerr
	}
	if err != nil {
		return w, err
	}
	w.msgs, w.pts = m1-m0, p1-p0
	w.sent, w.pointsSent, w.lpBytes = g.sent.Load(), g.points.Load(), g.lpBytes.Load()
	// Drain: wait until everything sent arrived or the count stops moving.
	last, still := -1.0, time.Now()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		n, _, err := count()
		if err != nil {
			return w, err
		}
		if n != last {
			last, still = n, time.Now()
		}
		if n >= float64(w.sent) || time.Since(still) > time.Second {
			break
		}
	}
	w.received = last
	return w, nil
}

func measureRivulet(o options, dir, broker string, round int) (sample, error) {
	port, err := freePort()
	if err != nil {
		return sample{}, err
	}
	c := rivCfg{dir: filepath.Join(dir, fmt.Sprintf("rivulet-%d", round)), broker: broker,
		clientID: fmt.Sprintf("bench-rivulet-%d", round), port: port, traffic: o.traffic,
		durability: o.durable, minInterval: o.minInterval, memoryLimit: o.memoryLimit, rule: o.rule, aggregates: o.aggregates, queue: o.queue,
		probe: o.mode == "live" && o.probe > 0, passRaw: o.passRaw}
	cfg, err := c.writeConfig()
	if err != nil {
		return sample{}, err
	}
	if o.mode == "live" {
		return liveRivulet(o, c, cfg)
	}
	// The first run only creates the persistent session.
	first, err := startRivulet(o.rivulet, cfg, port, false)
	if err != nil {
		return sample{}, err
	}
	if err := first.stop(); err != nil {
		return sample{}, err
	}
	lp, err := queue(o, broker, o.messages)
	if err != nil {
		return sample{}, err
	}
	t0 := time.Now()
	p, err := startRivulet(o.rivulet, cfg, port, o.strace)
	if err != nil {
		return sample{}, err
	}
	defer p.stop()
	// Each scrape costs the agent CPU that is charged to it (the bare
	// subscriber reports its end itself): poll every 50 ms while the end is
	// far, and every 5 ms once the rate seen so far puts it near.
	pause := 5 * time.Millisecond
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(pause) {
		if err := p.alive(); err != nil {
			return sample{}, err
		}
		m, err := scrape(port)
		if err != nil {
			continue
		}
		if got := m["rivulet_messages_total"]; got < float64(o.messages) {
			pause = 5 * time.Millisecond
			if el := time.Since(t0); got > 0 {
				left := time.Duration(float64(el) * (float64(o.messages) - got) / got)
				pause = min(max(left/2, 5*time.Millisecond), 50*time.Millisecond)
			}
			continue
		}
		t1 := time.Now()
		secs := t1.Sub(t0).Seconds()
		s, err := snapProc(p.pid)
		if err != nil {
			return sample{}, err
		}
		n, pts := float64(o.messages), m["rivulet_points_total"]
		out := sample{msgs: n / secs, points: pts / secs,
			cpuPerMsg: float64(s.cpu.Microseconds()) / n, rssMB: float64(s.hwmKB) / 1024, anonMB: float64(s.anonPeakKB) / 1024,
			logSyncs: m["rivulet_syncs_total"] / secs, fsyncs: nan,
			wbPerPoint: float64(s.writeBytes) / pts, wcPerPt: float64(s.wchar) / pts, lpPerPoint: lp,
			// rivulet_ack_latency_seconds is left out: under a standing
			// backlog its queueing stamp is not renewed (perf-notes).
			ackP50: nan, ackP99: nan,
			outP50: nan, outP99: nan, sinkP50: nan, sinkP99: nan,
			droppedInternal: m[`rivulet_dropped_total{reason="qos0_queue_full"}`]}
		if p.trace != nil {
			var by map[string]int
			var calls int
			calls, by = p.trace.count(t0, t1)
			out.fsyncs = float64(calls-by["probe"]) / secs
			out.syncKinds = formatKinds(by, secs)
		}
		return out, nil
	}
	return sample{}, fmt.Errorf("rivulet did not consume %d messages in 10 minutes", o.messages)
}

// liveRivulet measures rivulet while the generator publishes.
func liveRivulet(o options, c rivCfg, cfg string) (sample, error) {
	p, err := startRivulet(o.rivulet, cfg, c.port, o.strace)
	if err != nil {
		return sample{}, err
	}
	defer p.stop()
	var ma, mb, mEnd metrics
	var probes atomic.Int64
	var outT, sinkT *tailer
	count := func() (float64, float64, error) {
		if err := p.alive(); err != nil {
			return 0, 0, err
		}
		m, err := scrape(c.port)
		if err != nil {
			return 0, 0, err
		}
		if ma == nil {
			ma = m
		}
		mb = m
		// Probes pass through the batcher too; they are not the load's.
		pr := float64(probes.Load())
		return m["rivulet_messages_total"] - pr, m["rivulet_points_total"] - pr, nil
	}
	inWindow := func() func() {
		ma = mb
		stop := make(chan struct{})
		done := make(chan struct{})
		if c.probe {
			outT = tail(func() string { return newestFile(filepath.Join(c.dir, "data", "outbox", "probe")) }, true)
			sinkT = tail(func() string { return filepath.Join(c.dir, "probe.lp") }, false)
			go func() {
				defer close(done)
				probe(c.broker, o.probe, c.traffic.qos, stop, &probes)
			}()
		} else {
			close(done)
		}
		return func() {
			mEnd = mb
			close(stop)
			<-done
		}
	}
	w, err := runLive(o, c.broker, count, p.pid, inWindow)
	if err != nil {
		return sample{}, err
	}
	final, err := scrape(c.port)
	if err != nil {
		return sample{}, err
	}
	w.probes = 0 // count already leaves them out
	nProbes := float64(probes.Load())
	// Lost: generator messages that never reached rivulet's source, plus
	// those rivulet dropped; probes are not the generator's.
	w.received = final[`rivulet_source_messages_total{source="sensors"}`] - nProbes -
		final[`rivulet_dropped_total{reason="qos0_queue_full"}`]
	s := w.sample(o)
	s.logSyncs = (mEnd["rivulet_syncs_total"] - ma["rivulet_syncs_total"]) / w.secs()
	s.ackP50 = histQuantile(ma, mEnd, "rivulet_ack_latency_seconds", 0.5)
	s.ackP99 = histQuantile(ma, mEnd, "rivulet_ack_latency_seconds", 0.99)
	s.droppedInternal = final[`rivulet_dropped_total{reason="qos0_queue_full"}`]
	s.fsyncs = nan
	if p.trace != nil {
		calls, by := p.trace.count(w.a.at, w.b.at)
		s.fsyncs = float64(calls-by["probe"]) / w.secs()
		s.syncKinds = formatKinds(by, w.secs())
	}
	s.outP50, s.outP99, s.sinkP50, s.sinkP99 = nan, nan, nan, nan
	if outT != nil {
		lo, ls := outT.finish(), sinkT.finish()
		s.outP50, s.outP99 = quantile(lo, 0.5), quantile(lo, 0.99)
		s.sinkP50, s.sinkP99 = quantile(ls, 0.5), quantile(ls, 0.99)
	}
	return s, nil
}
