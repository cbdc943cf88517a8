package main

// The chaos suite's fleet of simulated devices, its oracle and the
// tallies (see chaos_test.go).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

type fleet struct {
	t       *testing.T
	clients []mqtt.Client
	base    int64

	mu      sync.Mutex
	tick    int
	acked   []reading
	failed  int // publishes without a PUBACK (uncertain: not in the oracle)
	qos0    int // QoS 0 burst messages handed to the client
	running sync.Mutex
}

// newFleet connects the devices to broker (clean sessions, auto-reconnect).
func newFleet(t *testing.T, broker string, n int) *fleet {
	t.Helper()
	f := &fleet{t: t, base: int64(1_700_000_000) * int64(time.Second)}
	toks := make([]mqtt.Token, n)
	for i := 0; i < n; i++ {
		o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("dev-%03d", i)).
			SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).
			SetConnectRetryInterval(50 * time.Millisecond).SetMaxReconnectInterval(500 * time.Millisecond).
			SetKeepAlive(5 * time.Second)
		c := mqtt.NewClient(o)
		f.clients = append(f.clients, c)
		toks[i] = c.Connect()
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("device %d connect: %v", i, tok.Error())
		}
	}
	t.Cleanup(f.close)
	return f
}

func (f *fleet) close() {
	var wg sync.WaitGroup
	for _, c := range f.clients {
		wg.Add(1)
		go func(c mqtt.Client) { defer wg.Done(); c.Disconnect(50) }(c)
	}
	wg.Wait()
	f.clients = nil
}

// connected reports whether every device is connected.
func (f *fleet) connected() bool {
	for _, c := range f.clients {
		if !c.IsConnectionOpen() {
			return false
		}
	}
	return true
}

// step publishes one reading per device and waits for the PUBACKs.
func (f *fleet) step() {
	f.mu.Lock()
	tick := f.tick
	f.tick++
	f.mu.Unlock()
	ts := f.base + int64(tick)*int64(chaosStep)
	toks := make([]mqtt.Token, len(f.clients))
	rs := make([]reading, len(f.clients))
	for i, c := range f.clients {
		rs[i] = reading{zone: fmt.Sprintf("z%d", i%chaosZones), sensor: fmt.Sprintf("d%03d", i), value: float64(tick), ts: ts}
		payload := fmt.Sprintf("temperature,sensor=%s value=%d %d", rs[i].sensor, tick, ts)
		toks[i] = c.Publish("greenhouse/"+rs[i].zone+"/lp", 1, false, payload)
	}
	var ok []reading
	failed := 0
	for i, tok := range toks {
		if tok.WaitTimeout(30*time.Second) && tok.Error() == nil {
			ok = append(ok, rs[i])
		} else {
			failed++
		}
	}
	f.mu.Lock()
	f.acked = append(f.acked, ok...)
	f.failed += failed
	f.mu.Unlock()
}

// run steps every pace until ctx ends; pause() holds it between steps.
func (f *fleet) run(ctx context.Context, pace func() time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			start := time.Now()
			f.running.Lock()
			f.step()
			f.running.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(pace() - time.Since(start)):
			}
		}
	}()
	return done
}

// pause waits for the step in progress and holds the fleet until resume.
func (f *fleet) pause()  { f.running.Lock() }
func (f *fleet) resume() { f.running.Unlock() }

// burstQoS0 floods burst/<zone>/lp with n QoS 0 messages from the devices.
func (f *fleet) burstQoS0(n int) {
	for i := 0; i < n; i++ {
		c := f.clients[i%len(f.clients)]
		c.Publish(fmt.Sprintf("burst/z%d/lp", i%chaosZones), 0, false, fmt.Sprintf("burst,sensor=b value=%d %d", i, f.base+int64(i)))
	}
	f.mu.Lock()
	f.qos0 += n
	f.mu.Unlock()
}

func (f *fleet) oracle() ([]reading, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]reading(nil), f.acked...), f.failed
}

// tally compares results with the oracle per window: lost is the readings
// the oracle has that no result counted, dup the readings counted beyond
// the oracle, wrong the results differing from the oracle's (or extra).
func tally(got map[string]map[string]float64, want map[string]agg) (lost, dup, wrong int) {
	for id, w := range want {
		g, ok := got[id]
		n := int64(0)
		if ok {
			n = int64(g["value_count"])
		}
		if n < w.count {
			lost += int(w.count - n)
		} else {
			dup += int(n - w.count)
		}
		mean := w.sum / float64(w.count)
		if !ok || n != w.count || g["value_min"] != w.min || g["value_max"] != w.max ||
			math.Abs(g["value_mean"]-mean) > 1e-9*math.Max(1, math.Abs(mean)) {
			wrong++
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			dup += int(g["value_count"])
			wrong++
		}
	}
	return lost, dup, wrong
}

// scrapeMaybe is scrape without failing: nil when /metrics does not answer.
func scrapeMaybe(addr string) map[string]float64 {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && !strings.HasPrefix(f[0], "#") {
			m[f[0]], _ = strconv.ParseFloat(f[1], 64)
		}
	}
	return m
}

// vmHWM reads the peak resident set size of pid from /proc (bytes).
func vmHWM(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return -1
}

// percentile returns the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(k, len(s)-1))]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e5) / 10 }

// TestPercentile checks the nearest-rank percentile on hand-computed cases.
func TestPercentile(t *testing.T) {
	d := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n))
		}
		return out
	}
	for _, c := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{d(7), 99, 7},
		{d(5, 1, 3, 2, 4), 50, 3},
		{d(5, 1, 3, 2, 4), 99, 5},
		{d(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9},
	} {
		if got := percentile(c.in, c.p); got != c.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", c.in, c.p, got, c.want)
		}
	}
}

// TestTally checks the oracle comparison on hand-made results.
func TestTally(t *testing.T) {
	want := map[string]agg{"a": {count: 3, sum: 6, min: 1, max: 3}, "b": {count: 2, sum: 3, min: 1, max: 2}}
	for _, c := range []struct {
		name             string
		got              map[string]map[string]float64
		lost, dup, wrong int
	}{
		{"equal", map[string]map[string]float64{
			"a": {"value_count": 3, "value_mean": 2, "value_min": 1, "value_max": 3},
			"b": {"value_count": 2, "value_mean": 1.5, "value_min": 1, "value_max": 2}}, 0, 0, 0},
		{"one lost, one missing window", map[string]map[string]float64{
			"a": {"value_count": 2, "value_mean": 2, "value_min": 1, "value_max": 3}}, 3, 0, 2},
		{"duplicate and extra", map[string]map[string]float64{
			"a": {"value_count": 4, "value_mean": 2, "value_min": 1, "value_max": 3},
			"b": {"value_count": 2, "value_mean": 1.5, "value_min": 1, "value_max": 2},
			"c": {"value_count": 1}}, 0, 2, 2},
	} {
		lost, dup, wrong := tally(c.got, want)
		if lost != c.lost || dup != c.dup || wrong != c.wrong {
			t.Errorf("%s: tally = %d, %d, %d; want %d, %d, %d", c.name, lost, dup, wrong, c.lost, c.dup, c.wrong)
		}
	}
}

// completeResults counts the distinct result identities in the sink file's
// complete lines: unlike results it may run while the sink is writing (a
// line being written is not yet there) and never fails the test.
func completeResults(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	} else {
		return 0
	}
	ids := map[string]bool{}
	for _, line := range bytes.Split(data, []byte("\n")) {
		// The identity is everything but the fields: "series fields ts".
		f := bytes.Fields(line)
		if len(f) == 3 {
			ids[string(f[0])+" "+string(f[2])] = true
		}
	}
	return len(ids)
}

// finishAndCompare stops the fleet, waits for every window of the oracle in
// the sink file, stops the agent and returns the comparison.
// The last /metrics scrape before the stop is returned too. knownDup names
// an open bug that counts readings twice: a comparison that loses nothing
// but shows duplicates is then logged instead of failing.
func finishAndCompare(t *testing.T, f *fleet, agent *proc, web, out string, timeout time.Duration, knownDup string) (lost, dup, wrong, msgs int, last map[string]float64) {
	t.Helper()
	rs, failed := f.oracle()
	if failed > 0 {
		t.Errorf("%d publishes got no PUBACK (left out of the oracle; a result counting them would show as a duplicate)", failed)
	}
	want := expected(rs, time.Second, "temp_1s")
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if completeResults(out) >= len(want) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a repeat or extra result would land now
	last = scrapeMaybe(web)
	agent.stop(t)
	lost, dup, wrong = tally(results(t, out), want)
	if knownDup != "" && lost == 0 && dup > 0 && os.Getenv(knownBugsEnv) != "1" {
		t.Logf("%s reproduced: %d readings counted twice, %d results differ (%s=1 makes this a failure)", knownDup, dup, wrong, knownBugsEnv)
		return lost, dup, wrong, len(rs), last
	}
	if lost != 0 || dup != 0 || wrong != 0 {
		compare(t, results(t, out), want)
		t.Errorf("%d readings lost, %d counted twice, %d of %d results differ from the oracle", lost, dup, wrong, len(want))
		var warn []string
		for _, l := range strings.Split(agent.output(), "\n") {
			if !strings.Contains(l, "level=INFO") && !strings.Contains(l, "level=DEBUG") || strings.Contains(l, "broker") {
				warn = append(warn, l)
			}
		}
		t.Logf("agent's warnings, errors and broker events:\n%s", strings.Join(warn, "\n"))
		t.Logf("last process: messages_total=%v points_total=%v late_points_total=%v deduplicated=%v redeliveries_unmatched=%v",
			last["rivulet_messages_total"], last["rivulet_points_total"], last["rivulet_late_points_total"],
			last["rivulet_redeliveries_deduplicated_total"], last["rivulet_redeliveries_unmatched_total"])
	}
	return lost, dup, wrong, len(rs), last
}

// TestChaosKillLoop SIGKILLs the agent at random moments while 200 devices
// publish QoS 1 through a persistent mosquitto, restarts it, and repeats
// RIVULET_CHAOS_CYCLES times; then compares every window with the oracle.
