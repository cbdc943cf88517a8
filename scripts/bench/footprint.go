package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// footprint measures rivulet's idle cost and its cost under a steady
// sensor load: CPU share of one core, CPU per message and peak RSS.
func footprint(o options, rate, series int, window time.Duration) error {
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
	cfg, err := writeRivuletConfig(o, filepath.Join(dir, "rivulet"), broker, port, 0)
	if err != nil {
		return err
	}
	p, err := startRivulet(o, cfg, port)
	if err != nil {
		return err
	}
	defer p.stop()
	pid := p.cmd.Process.Pid
	time.Sleep(2 * time.Second) // start-up is not idleness
	idleCPU, idleRSS, err := cpuOver(pid, window, nil)
	if err != nil {
		return err
	}
	var sent int
	loadCPU, _, err := cpuOver(pid, window, func(done <-chan struct{}) { sent = steadyLoad(broker, rate, series, done) })
	if err != nil {
		return err
	}
	_, peak, err := procStats(pid)
	if err != nil {
		return err
	}
	m, err := scrape(port)
	if err != nil {
		return err
	}
	fmt.Printf("| state | CPU (share of one core) | CPU µs/msg | RSS MB |\n|---|---:|---:|---:|\n")
	fmt.Printf("| idle (connected, heartbeats only) | %.2f%% | – | %.1f |\n", 100*idleCPU.Seconds()/window.Seconds(), float64(idleRSS)/1024)
	fmt.Printf("| %d msgs/s over %d series, QoS 1 | %.1f%% | %.1f | %.1f (peak) |\n", rate, series,
		100*loadCPU.Seconds()/window.Seconds(), float64(loadCPU.Microseconds())/float64(max(sent, 1)), float64(peak)/1024)
	fmt.Printf("\n%s per state; %d messages sent under load, %.0f committed by rivulet in all.\n",
		window, sent, m["rivulet_messages_total"])
	return nil
}

// cpuOver returns the CPU time pid used during d while load (if any) runs,
// and its resident set at the end (VmRSS, kB).
func cpuOver(pid int, d time.Duration, load func(done <-chan struct{})) (time.Duration, int64, error) {
	before, _, err := procStats(pid)
	if err != nil {
		return 0, 0, err
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		if load != nil {
			load(done)
		}
		close(finished)
	}()
	time.Sleep(d)
	close(done)
	<-finished
	after, _, err := procStats(pid)
	if err != nil {
		return 0, 0, err
	}
	return after - before, vmRSS(pid), nil
}

func vmRSS(pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	var kb int64
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fmt.Sscanf(rest, "%d", &kb)
		}
	}
	return kb
}

// steadyLoad publishes rate QoS 1 messages per second, cycling over series
// topics, until done; it returns how many it sent.
func steadyLoad(broker string, rate, series int, done <-chan struct{}) int {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("bench-steady").SetMaxResumePubInFlight(1024))
	if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		fmt.Fprintln(os.Stderr, "steady load connect:", t.Error())
		return 0
	}
	defer c.Disconnect(100)
	const tick = 10 * time.Millisecond
	per := max(rate*int(tick)/int(time.Second), 1)
	t := time.NewTicker(tick)
	defer t.Stop()
	sent := 0
	var last mqtt.Token
	for {
		select {
		case <-done:
			if last != nil {
				last.WaitTimeout(10 * time.Second)
			}
			return sent
		case <-t.C:
		}
		for i := 0; i < per; i++ {
			dev := sent % series
			topic := fmt.Sprintf("site/zone-%d/dev-%d/temperature", dev%10, dev)
			last = c.Publish(topic, 1, false, strconv.FormatFloat(20+float64(sent%97)/10, 'f', 2, 64))
			sent++
		}
	}
}
