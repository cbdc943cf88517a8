package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// footprint measures rivulet's idle cost and its cost under a steady
// sensor load (-rate messages/s over -series series, -qos): CPU share of
// one core, CPU per message and peak RSS.
func footprint(o options, window time.Duration) error {
	dir, err := os.MkdirTemp("", "rivulet-footprint-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	broker, stop, err := startMosquitto(dir, o.inflight)
	if err != nil {
		return err
	}
	defer stop()
	port, err := freePort()
	if err != nil {
		return err
	}
	c := rivCfg{dir: filepath.Join(dir, "rivulet"), broker: broker, clientID: "bench-footprint", port: port,
		traffic: o.traffic, durability: o.durable, minInterval: o.minInterval, memoryLimit: o.memoryLimit, rule: o.rule, aggregates: o.aggregates, queue: o.queue}
	cfg, err := c.writeConfig()
	if err != nil {
		return err
	}
	p, err := startRivulet(o.rivulet, cfg, port, false)
	if err != nil {
		return err
	}
	defer p.stop()
	time.Sleep(2 * time.Second) // start-up is not idleness
	a, err := snapProc(p.pid)
	if err != nil {
		return err
	}
	time.Sleep(window)
	b, err := snapProc(p.pid)
	if err != nil {
		return err
	}
	lo := o
	lo.mode, lo.duration, lo.warmup = "live", window, 0
	w, err := runLive(lo, broker, func() (float64, float64, error) {
		m, err := scrape(port)
		return m["rivulet_messages_total"], m["rivulet_points_total"], err
	}, p.pid, nil)
	if err != nil {
		return err
	}
	cpu := w.b.cpu - w.a.cpu
	fmt.Printf("| state | CPU (share of one core) | CPU µs/msg | RSS MB |\n|---|---:|---:|---:|\n")
	fmt.Printf("| idle (connected, heartbeats only) | %.2f%% | – | %.1f |\n",
		100*(b.cpu-a.cpu).Seconds()/b.at.Sub(a.at).Seconds(), float64(b.rssKB)/1024)
	fmt.Printf("| %d msgs/s over %d series, QoS %d, %s | %.1f%% | %.1f | %.1f (peak) |\n", o.rate, o.traffic.series, o.traffic.qos,
		o.traffic.format, 100*cpu.Seconds()/w.secs(), float64(cpu.Microseconds())/max(w.msgs, 1), float64(w.b.hwmKB)/1024)
	fmt.Printf("\n%s per state; %d messages sent under load, %.0f committed by rivulet in the window.\n", window, w.sent, w.msgs)
	return nil
}
