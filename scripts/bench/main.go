// Command bench measures rivulet against mosquitto on loopback, next to a
// bare paho subscriber measured in the same run, and prints markdown table
// rows (scripts/bench.sh and scripts/scale.sh append them to BENCHMARKS.md).
//
// Two methods:
//
//   - drain (QoS 1 ceiling): for each consumer a persistent session is
//     created, the consumer stops, N messages are queued in the broker for
//     it, then it starts again and drains the backlog. Rate = N / (time
//     from starting the process to its N-th message).
//   - live (sustained): the load generator publishes at a fixed rate (or
//     as fast as the broker takes them) while the consumer runs; after a
//     warm-up, every figure is a difference over a measuring window.
//
// Per consumer: CPU = utime+stime from /proc/PID/stat, peak RSS = VmHWM,
// bytes written = /proc/PID/io write_bytes. For rivulet also: fsync-family
// calls counted by strace (-f --seccomp-bpf, which stops the agent only at
// those calls) in one more round whose other figures are not used, since
// strace slows every syscall; the ingest log's syncs and the ack latency
// histogram from
// /metrics, and (live) publish→outbox and publish→sink-file latency of
// timestamped probe messages. Consumers alternate for R rounds; rows give
// medians.
package main

import (
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

var nan = math.NaN()

type options struct {
	rivulet     string
	mode        string
	messages    int
	rounds      int
	inflight    int
	traffic     traffic
	durable     string
	minInterval string
	memoryLimit string
	rule        string
	aggregates  string
	queue       int
	passRaw     bool
	rate        int
	duration    time.Duration
	warmup      time.Duration
	strace      bool
	probe       time.Duration
	label       string
	noBare      bool
	noRivulet   bool
	peer        string // another agent measured in the same rounds ("": none)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "subscribe" {
		if len(os.Args) != 6 {
			fmt.Fprintln(os.Stderr, "usage: bench subscribe BROKER CLIENT_ID QOS N")
			os.Exit(2)
		}
		if err := bareSubscriber(os.Args[2], os.Args[3], os.Args[4], os.Args[5]); err != nil {
			fmt.Fprintln(os.Stderr, "subscriber:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var qos int
	flag.StringVar(&o.rivulet, "rivulet", "bin/rivulet", "path of the rivulet binary")
	flag.StringVar(&o.mode, "mode", "drain", "drain (QoS 1 backlog) or live (publisher running at -rate)")
	flag.IntVar(&o.messages, "messages", 200000, "drain: messages per measurement")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each measures both consumers")
	flag.IntVar(&o.inflight, "inflight", 1000, "mosquitto max_inflight_messages")
	flag.StringVar(&o.traffic.format, "format", "value", "payload format: value, influx or json")
	flag.IntVar(&qos, "qos", 1, "QoS of publisher and subscriptions")
	flag.IntVar(&o.traffic.points, "points", 1, "points per message (influx, json)")
	flag.IntVar(&o.traffic.series, "series", 100, "distinct series (devices × points per message)")
	flag.IntVar(&o.traffic.series, "devices", 100, "alias of -series for 1 point per message")
	flag.StringVar(&o.durable, "durability", "fsync", "rivulet wal.durability")
	flag.StringVar(&o.minInterval, "min-interval", "", "rivulet batch.min_interval (empty: the default)")
	flag.StringVar(&o.memoryLimit, "memory-limit", "", "rivulet memory_limit (empty: none)")
	flag.StringVar(&o.rule, "rule", "threshold", "detect rule on the raw points: threshold, anomaly or none")
	flag.StringVar(&o.aggregates, "aggregates", "count, mean, min, max, p95", "aggregates of the 1-minute window")
	flag.IntVar(&o.queue, "queue", 0, "rivulet batch.queue (0: the default)")
	flag.IntVar(&o.rate, "rate", 10000, "live: messages per second (0: as fast as the broker takes them)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "live: measuring window")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "live: load before the window opens")
	flag.BoolVar(&o.strace, "strace", true, "count rivulet's fsyncs with strace")
	flag.BoolVar(&o.passRaw, "pass-raw", false, "live: also send every raw reading to the probe's file sink (pass_to), a sink fed at every commit")
	flag.DurationVar(&o.probe, "probe", 100*time.Millisecond, "live: interval of latency probes (0: none)")
	flag.StringVar(&o.label, "label", "", "first column of the rows (default: a description of the run)")
	flag.BoolVar(&o.noBare, "no-bare", false, "measure rivulet only")
	flag.BoolVar(&o.noRivulet, "no-rivulet", false, "measure the bare subscriber only")
	flag.StringVar(&o.peer, "peer", "", "live, value payloads: also measure another agent in each round: collectd (mqtt plugin → csv plugin; apt-get install collectd-core)")
	flag.StringVar(&bareConn, "bare-conn", "plain", "bare subscriber's socket: plain (paho's), buffered (buffered reads) or coalesced (also coalesced writes)")
	flag.StringVar(&bareStore, "bare-store", "memory", "bare subscriber's paho store: memory (paho's default) or outbound (keeps no inbound packets, as rivulet's source)")
	parseFlag := flag.Bool("bare-parse", false, "the bare subscriber also parses each payload's points once (value and influx formats), a floor for any agent that reads them")
	header := flag.Bool("header", false, "print the table header first")
	foot := flag.Bool("footprint", false, "measure idle and steady-load CPU and RSS instead")
	scaleKind := flag.String("scale", "", "print a scale curve: series or rate (live, rivulet and bare)")
	points := flag.String("values", "", "scale: comma-separated values (default 1,100,1000,10000,100000 series or 1000,5000,10000,20000,50000,0 msgs/s)")
	window := flag.Duration("window", 30*time.Second, "footprint: measuring time per state")
	flag.Parse()
	o.traffic.qos = byte(qos)
	if o.traffic.format == "value" {
		o.traffic.points = 1
	}
	if o.label == "" {
		o.label = describe(o)
		if bareConn != "plain" {
			o.label += ", bare socket " + bareConn
		}
		if bareStore != "memory" {
			o.label += ", bare store " + bareStore
		}
		if *parseFlag {
			o.label += ", bare subscriber parses"
		}
	}
	if *parseFlag {
		bareParse = o.traffic.format
	}
	if o.peer != "" && (*foot || *scaleKind != "") {
		fmt.Fprintln(os.Stderr, "bench: -peer measures the standard rows only, not -footprint or -scale")
		os.Exit(2)
	}
	var err error
	switch {
	case *foot:
		err = footprint(o, *window)
	case *scaleKind != "":
		err = scale(o, *scaleKind, *points)
	default:
		if *header {
			printHeader()
		}
		err = bench(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// describe is the default label of a run.
func describe(o options) string {
	s := fmt.Sprintf("QoS %d %s", o.traffic.qos, o.mode)
	if o.mode == "live" {
		if o.rate == 0 {
			s += " max"
		} else {
			s += fmt.Sprintf(" %d/s", o.rate)
		}
	}
	s += fmt.Sprintf(", %s ×%d, %d series", o.traffic.format, o.traffic.points, o.traffic.series)
	if o.minInterval != "" {
		s += ", min_interval " + o.minInterval
	}
	if o.queue != 0 {
		s += fmt.Sprintf(", batch.queue %d", o.queue)
	}
	if o.inflight != 1000 {
		s += fmt.Sprintf(", inflight %d", o.inflight)
	}
	if o.memoryLimit != "" {
		s += ", memory_limit " + o.memoryLimit
	}
	if o.rule != "threshold" {
		s += ", rule " + o.rule
	}
	if o.aggregates != "count, mean, min, max, p95" {
		s += ", aggregates " + o.aggregates
	}
	if o.durable != "fsync" {
		s += ", durability " + o.durable
	}
	if o.passRaw {
		s += ", raw points to the probe sink"
	}
	return s
}

// sample is one consumer's measurement; NaN where it does not apply.
type sample struct {
	msgs, points          float64 // per second
	cpuPerMsg             float64 // µs
	rssMB                 float64 // peak
	anonMB                float64 // peak RssAnon
	fsyncs, logSyncs      float64 // per second
	syncKinds             string
	wbPerPoint, wcPerPt   float64 // bytes per point: write_bytes, wchar
	lpPerPoint            float64
	ackP50, ackP99        float64 // ms
	outP50, outP99        float64 // ms, publish → outbox file
	sinkP50, sinkP99      float64 // ms, publish → sink file
	lost, droppedInternal float64 // messages: sent − received, rivulet's qos0 drops
}

func (s sample) String() string {
	return fmt.Sprintf("%.0f msg/s %.0f pt/s %.1f µs/msg %.1f MB %.0f fsyncs/s (%s) %.1f B/pt (LP %.1f) ack %.1f/%.1f ms out %.1f/%.1f ms sink %.1f/%.1f ms lost %.0f dropped %.0f",
		s.msgs, s.points, s.cpuPerMsg, s.rssMB, s.fsyncs, s.syncKinds, s.wbPerPoint, s.lpPerPoint,
		s.ackP50, s.ackP99, s.outP50, s.outP99, s.sinkP50, s.sinkP99, s.lost, s.droppedInternal)
}

func bench(o options) error {
	b, r, p, err := measure(o)
	if err != nil {
		return err
	}
	printRows(o.label, b, r, !o.noBare, !o.noRivulet)
	if o.peer != "" {
		printPeer(o.label, o.peer, b, p)
	}
	return nil
}

// measure runs the rounds of one configuration and returns the medians
// (bare, rivulet, the -peer agent).
func measure(o options) (sample, sample, sample, error) {
	dir, err := os.MkdirTemp("", "rivulet-bench-")
	if err != nil {
		return sample{}, sample{}, sample{}, err
	}
	if os.Getenv("BENCH_KEEP") == "" {
		defer os.RemoveAll(dir)
	} else {
		fmt.Fprintln(os.Stderr, "keeping", dir)
	}
	broker, stop, err := startMosquitto(dir, o.inflight)
	if err != nil {
		return sample{}, sample{}, sample{}, err
	}
	defer stop()
	// strace makes the agent's syscalls slower (4-9% more CPU per message
	// live, up to 30% in drains, measured): the rounds run it without, and
	// one more round under strace gives only the fsync counts.
	traced := o.strace
	o.strace = false
	var bares, rivs, peers []sample
	for round := 0; round < o.rounds; round++ {
		var b, v, p sample
		if !o.noBare {
			if b, err = measureBare(o, broker, round); err != nil {
				return sample{}, sample{}, sample{}, fmt.Errorf("bare subscriber: %w", err)
			}
			bares = append(bares, b)
		}
		if o.noRivulet {
			v = sample{msgs: nan}
		} else if v, err = measureRivulet(o, dir, broker, round); err != nil {
			// One retry: a shared machine can kill a round (strace dying).
			fmt.Fprintf(os.Stderr, "%s, round %d: %v; retrying once\n", o.label, round+1, err)
			if v, err = measureRivulet(o, dir, broker, round+100); err != nil {
				return sample{}, sample{}, sample{}, fmt.Errorf("rivulet: %w", err)
			}
		}
		rivs = append(rivs, v)
		fmt.Fprintf(os.Stderr, "%s, round %d:\n  bare    %s\n  rivulet %s\n", o.label, round+1, b, v)
		if o.peer != "" {
			if p, err = measurePeer(o, dir, broker, round); err != nil {
				return sample{}, sample{}, sample{}, fmt.Errorf("%s: %w", o.peer, err)
			}
			peers = append(peers, p)
			fmt.Fprintf(os.Stderr, "  %s %s\n", o.peer, p)
		}
	}
	r := median(rivs)
	if traced && !o.noRivulet {
		o.strace = true
		v, err := measureRivulet(o, dir, broker, 200)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s, strace round: %v; retrying once\n", o.label, err)
			if v, err = measureRivulet(o, dir, broker, 300); err != nil {
				return sample{}, sample{}, sample{}, fmt.Errorf("rivulet under strace: %w", err)
			}
		}
		fmt.Fprintf(os.Stderr, "%s, strace round (fsyncs only):\n  rivulet %s\n", o.label, v)
		r.fsyncs, r.syncKinds = v.fsyncs, v.syncKinds
	}
	return median(bares), r, median(peers), nil
}

// median takes the median of every figure separately.
func median(s []sample) sample {
	if len(s) == 0 {
		return sample{msgs: nan}
	}
	out := s[len(s)/2]
	fields := []func(*sample) *float64{
		func(x *sample) *float64 { return &x.msgs }, func(x *sample) *float64 { return &x.points },
		func(x *sample) *float64 { return &x.cpuPerMsg }, func(x *sample) *float64 { return &x.rssMB },
		func(x *sample) *float64 { return &x.anonMB },
		func(x *sample) *float64 { return &x.fsyncs }, func(x *sample) *float64 { return &x.logSyncs },
		func(x *sample) *float64 { return &x.wbPerPoint }, func(x *sample) *float64 { return &x.wcPerPt },
		func(x *sample) *float64 { return &x.lpPerPoint },
		func(x *sample) *float64 { return &x.ackP50 }, func(x *sample) *float64 { return &x.ackP99 },
		func(x *sample) *float64 { return &x.outP50 }, func(x *sample) *float64 { return &x.outP99 },
		func(x *sample) *float64 { return &x.sinkP50 }, func(x *sample) *float64 { return &x.sinkP99 },
		func(x *sample) *float64 { return &x.lost }, func(x *sample) *float64 { return &x.droppedInternal },
	}
	for _, f := range fields {
		v := make([]float64, len(s))
		for i := range s {
			v[i] = *f(&s[i])
		}
		sort.Float64s(v) // NaNs sort first
		*f(&out) = v[len(v)/2]
	}
	// The fsync breakdown of the round with the median fsync rate.
	for _, x := range s {
		if x.fsyncs == out.fsyncs {
			out.syncKinds = x.syncKinds
		}
	}
	return out
}

func startMosquitto(dir string, inflight int) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages %d\nmax_queued_messages 0\nmax_queued_bytes 0\n", port, inflight)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.Command("mosquitto", "-c", conf)
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start mosquitto (apt-get install mosquitto): %w", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "tcp://" + addr, func() { cmd.Process.Kill(); cmd.Wait() }, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return "", nil, fmt.Errorf("mosquitto did not listen on %s", addr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// queue publishes n messages of o's traffic while no consumer is connected.
func queue(o options, broker string, n int) (lpPerPoint float64, err error) {
	g, err := newGenerator(broker, "bench-load", o.traffic)
	if err != nil {
		return 0, err
	}
	defer g.close()
	err = g.run(0, n, nil)
	return float64(g.lpBytes.Load()) / float64(max(g.points.Load(), 1)), err
}

// procStats returns utime+stime and VmHWM (kB) of pid.
func procStats(pid int) (cpu time.Duration, hwmKB int64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
	return cpu, statusKB(pid, "VmHWM:"), nil
}

// vmRSS returns the resident set of pid now (kB).
func vmRSS(pid int) int64 { return statusKB(pid, "VmRSS:") }

func statusKB(pid int, key string) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	var kb int64
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			fmt.Sscanf(rest, "%d", &kb)
		}
	}
	return kb
}
