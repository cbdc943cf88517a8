package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rivulet-edge/rivulet/point"
)

// rivCfg is what one rivulet run is configured with.
type rivCfg struct {
	dir, broker, clientID string
	port                  int
	traffic               traffic
	durability            string
	minInterval           string // "" keeps the default
	memoryLimit           string // "" sets none
	rule                  string // threshold | anomaly | none
	aggregates            string
	queue                 int // batch.queue; 0 keeps the default
	probe                 bool
	passRaw               bool // with probe: the window step also passes raw points to the probe sink
}

// writeConfig writes the site config: the sensor topics, the default
// durable batching, a 1-minute tumbling window with count, mean, min, max
// and p95 per series, one detect rule on the raw points and a file sink;
// with probe, latency probes go through a transform step to a file sink
// of their own.
func (c rivCfg) writeConfig() (string, error) {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return "", err
	}
	var topic string
	switch c.traffic.format {
	case "value":
		topic = `        - filter: site/+/+/temperature
          format: value
          measurement: temperature
          tags: {zone: "{1}", device: "{2}"}`
	case "influx":
		topic = `        - filter: site/+/+/lp
          format: influx
          tags: {zone: "{1}", device: "{2}"}`
	case "json":
		topic = `        - filter: site/+/+/json
          format: json
          measurement: temperature
          tags: {zone: "{1}", device: "{2}"}
          json: {time_field: ts, time_format: unix_ns, tag_fields: [sensor]}`
	default:
		return "", fmt.Errorf("unknown format %q", c.traffic.format)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "site: bench\ndata_dir: %s/data\nlog: {level: warn}\nhttp: {listen: \"127.0.0.1:%d\"}\n", c.dir, c.port)
	if c.memoryLimit != "" {
		fmt.Fprintf(&b, "memory_limit: %s\n", c.memoryLimit)
	}
	fmt.Fprintf(&b, "sources:\n  mqtt:\n    - name: sensors\n      broker: %s\n      client_id: %s\n      qos: %d\n      topics:\n%s\n",
		c.broker, c.clientID, c.traffic.qos, topic)
	if c.probe {
		b.WriteString("        - filter: bench/probe\n          format: influx\n")
	}
	fmt.Fprintf(&b, "wal: {durability: %s}\n", c.durability)
	var batch []string
	if c.minInterval != "" {
		batch = append(batch, "min_interval: "+c.minInterval)
	}
	if c.queue > 0 {
		batch = append(batch, fmt.Sprintf("queue: %d", c.queue))
	}
	if len(batch) > 0 {
		fmt.Fprintf(&b, "batch: {%s}\n", strings.Join(batch, ", "))
	}
	b.WriteString(`pipeline:
  - name: temp_1m
    measurement: temperature
    window: {type: tumbling, size: 1m, max_delay: 5s, idle_timeout: 30s}
    group_by: [zone, device, sensor]
    aggregates: [` + c.aggregates + `]
    max_series: 200000
    to: [local]
`)
	if c.probe && c.passRaw {
		b.WriteString("    pass_to: [probe]\n")
	}
	switch c.rule {
	case "threshold":
		b.WriteString(`  - name: too_hot
    measurement: temperature
    detect: {threshold: {field: value, warn: 30, crit: 35, hysteresis: 1}, max_series: 200000}
    to: [local]
`)
	case "anomaly":
		b.WriteString(`  - name: odd_temperature
    measurement: temperature
    detect: {anomaly: {field: value}, max_series: 200000}
    to: [local]
`)
	case "none":
	default:
		return "", fmt.Errorf("unknown rule %q", c.rule)
	}
	if c.probe {
		b.WriteString("  - name: probe_out\n    measurement: probe\n    to: [probe]\n")
	}
	fmt.Fprintf(&b, "sinks:\n  - name: local\n    type: file\n    path: %s/results.lp\n", c.dir)
	if c.probe {
		fmt.Fprintf(&b, "  - name: probe\n    type: file\n    path: %s/probe.lp\n", c.dir)
	}
	path := filepath.Join(c.dir, "site.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// rivulet is a running agent, possibly under strace.
type rivulet struct {
	cmd      *exec.Cmd // rivulet itself, or strace running it
	pid      int       // rivulet's pid
	bin, cfg string    // how it was started: agentPid finds it by them
	port     int
	trace    *syncTrace
	exited   chan struct{} // closed when cmd has exited
}

// alive reports an error if cmd (strace or rivulet) has exited. Should
// strace die, rivulet's fsyncs would fail with ENOSYS (its seccomp filter
// stays without a tracer): it is killed and the round fails.
func (r *rivulet) alive() error {
	select {
	case <-r.exited:
		if r.pid != r.cmd.Process.Pid {
			if p, err := os.FindProcess(r.pid); err == nil {
				p.Kill()
			}
		}
		return fmt.Errorf("rivulet (or strace) exited during the measurement")
	default:
		return nil
	}
}

// startRivulet starts the agent on cfg and waits until its source is
// connected. With strace it runs under `strace -f --seccomp-bpf`, which
// stops the agent only at the fsync-family calls it records.
func startRivulet(bin, cfg string, port int, strace bool) (*rivulet, error) {
	r := &rivulet{port: port, bin: bin, cfg: cfg}
	if strace {
		r.trace = &syncTrace{path: cfg + ".strace"}
		r.cmd = exec.Command("strace", "-f", "--seccomp-bpf", "-qq", "-e", "signal=none", "-ttt", "-y",
			"-e", "trace=fsync,fdatasync,sync_file_range,syncfs,msync", "-o", r.trace.path, bin, "run", "--config", cfg)
	} else {
		r.cmd = exec.Command(bin, "run", "--config", cfg)
	}
	// Stdout nil (/dev/null), stderr a file: no copying goroutines, so
	// Wait returns when strace exits even if rivulet were still running.
	r.cmd.Stdout, r.cmd.Stderr = nil, os.Stderr
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	r.pid = r.cmd.Process.Pid
	r.exited = make(chan struct{})
	go func() { r.cmd.Wait(); close(r.exited) }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if strace && r.pid == r.cmd.Process.Pid {
			r.pid = agentPid(bin, cfg)
			if r.pid == 0 {
				r.pid = r.cmd.Process.Pid
				time.Sleep(5 * time.Millisecond)
				continue // never signal strace itself: rivulet would lose its tracer
			}
		}
		if err := r.alive(); err != nil {
			return nil, err
		}
		if m, err := scrape(port); err == nil && m[`rivulet_source_up{source="sensors"}`] == 1 {
			time.Sleep(200 * time.Millisecond) // let the subscription settle
			watchAnon(r.pid)
			return r, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.stop()
	return nil, fmt.Errorf("rivulet did not connect (port %d)", port)
}

// agentPid returns the pid of the rivulet process running on config cfg
// (argv "BIN run --config CFG"), or 0. It goes by the command line, not by
// parentage: strace forks short-lived children of its own (kernel feature
// probes) before it runs the agent, and taking one of those for the agent
// left the agent unsignalled and running after the harness ended.
func agentPid(bin, cfg string) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	want := bin + "\x00run\x00--config\x00" + cfg + "\x00"
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && string(cmdline) == want {
			return pid
		}
	}
	return 0
}

// stop interrupts rivulet (not strace) and waits for it to exit. An
// agent that outlives its tracer (strace killed, or the interrupt lost in
// the tracer's hands) is interrupted again directly, then killed.
func (r *rivulet) stop() error {
	pid := agentPid(r.bin, r.cfg)
	if pid == 0 {
		pid = r.pid // already gone: nothing to signal
	}
	p, _ := os.FindProcess(pid) // never fails on Unix
	p.Signal(os.Interrupt)
	var errs []error
	select {
	case <-r.exited:
	case <-time.After(20 * time.Second):
		r.cmd.Process.Kill() // strace, or the agent itself
		<-r.exited
		errs = append(errs, fmt.Errorf("rivulet did not stop on SIGINT in 20 s"))
	}
	if pid := agentPid(r.bin, r.cfg); pid != 0 {
		p, _ := os.FindProcess(pid)
		p.Signal(os.Interrupt)
		for i := 0; i < 150 && agentPid(r.bin, r.cfg) == pid; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if agentPid(r.bin, r.cfg) == pid {
			p.Kill()
		}
		errs = append(errs, fmt.Errorf("rivulet (pid %d) outlived its tracer: interrupted again, then killed if still running", pid))
	}
	return errors.Join(errs...)
}

// bareConn is the -bare-conn experiment: plain, buffered or coalesced.
var bareConn string

// bareStore is the -bare-store experiment: memory (paho's MemoryStore) or
// outbound (no inbound packets kept, as rivulet's source does).
var bareStore string

// bareParse is the -bare-parse experiment: "" (the bare subscriber only
// counts messages) or the payload format ("value" or "influx") it also
// parses each message's points in, once, with rivulet's own line-protocol
// decoder: the least any agent that reads the points has to do.
var bareParse string

// bare is a running bare subscriber (this program, subcommand subscribe).
type bare struct {
	cmd    *exec.Cmd
	counts chan int64    // the subscriber's answers to SIGUSR1
	done   chan struct{} // closed when the subscriber reports "done"
}

// count asks the subscriber (SIGUSR1) how many messages it has received.
// Asking, rather than having it report on a timer, keeps the baseline
// free of wake-ups the consumer would not otherwise have.
func (b *bare) count() (int64, error) {
	if err := b.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return 0, err
	}
	select {
	case n := <-b.counts:
		return n, nil
	case <-time.After(5 * time.Second):
		return 0, fmt.Errorf("bare subscriber did not answer SIGUSR1")
	}
}

// startBare starts a bare subscriber that exits after subscribing when n
// is 0, reports "done" after n messages when n > 0, and counts forever
// when n < 0; it reports its count on stdout when asked (SIGUSR1).
func startBare(broker, id string, qos byte, n int) (*bare, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b := &bare{cmd: exec.Command(self, "subscribe", broker, id, strconv.Itoa(int(qos)), strconv.Itoa(n)),
		done: make(chan struct{}), counts: make(chan int64, 16)}
	b.cmd.Env = append(os.Environ(), "BENCH_BARE_CONN="+bareConn, "BENCH_BARE_STORE="+bareStore, "BENCH_BARE_PARSE="+bareParse)
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	b.cmd.Stderr = os.Stderr
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	watchAnon(b.cmd.Process.Pid)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 1 && f[0] == "ready":
				close(ready)
			case len(f) == 2 && f[0] == "count":
				v, _ := strconv.ParseInt(f[1], 10, 64)
				select {
				case b.counts <- v:
				default:
				}
			case len(f) >= 1 && f[0] == "done":
				close(b.done)
			}
		}
	}()
	select {
	case <-ready:
		return b, nil
	case <-time.After(20 * time.Second):
		b.kill()
		return nil, fmt.Errorf("bare subscriber did not subscribe")
	}
}

func (b *bare) kill() { b.cmd.Process.Kill(); b.cmd.Wait() }

// bareSubscriber is the subscribe subcommand: QoS qos on a persistent
// session, auto-ack, nothing done with the messages.
func bareSubscriber(broker, id, qosStr, nStr string) error {
	n, _ := strconv.Atoi(nStr)
	qos, _ := strconv.Atoi(qosStr)
	var got atomic.Int64
	done := make(chan struct{})
	parse, err := payloadParser(os.Getenv("BENCH_BARE_PARSE"))
	if err != nil {
		return err
	}
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(false).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			if parse != nil {
				parse(m.Payload())
			}
			if got.Add(1) == int64(n) {
				close(done)
			}
		})
	if fn := dialer(os.Getenv("BENCH_BARE_CONN")); fn != nil {
		opts.SetCustomOpenConnectionFn(fn)
	}
	if os.Getenv("BENCH_BARE_STORE") == "outbound" {
		opts.SetStore(outboundStore{mqtt.NewMemoryStore()})
	}
	c := mqtt.NewClient(opts)
	if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return fmt.Errorf("connect: %v", t.Error())
	}
	if t := c.Subscribe("site/#", byte(qos), nil); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return fmt.Errorf("subscribe: %v", t.Error())
	}
	if n == 0 {
		c.Disconnect(100)
		return nil
	}
	ask := make(chan os.Signal, 1)
	signal.Notify(ask, syscall.SIGUSR1)
	fmt.Println("ready")
	for {
		select {
		case <-done:
			fmt.Printf("count %d\ndone\n", got.Load())
			done = nil // the harness reads /proc, then kills us
		case <-ask:
			fmt.Printf("count %d\n", got.Load())
		}
	}
}

// payloadParser returns what the bare subscriber does with each payload
// under -bare-parse: nil for nothing, else a parse of the payload's points
// (a value payload's number, an influx payload's lines with every field
// value and timestamp) whose results are summed so that none of the work
// can be skipped. paho calls the handler from one goroutine at a time
// (ordered delivery, its default), so one decoder serves every message.
func payloadParser(format string) (func([]byte), error) {
	var sum float64
	switch format {
	case "":
		return nil, nil
	case "value":
		return func(b []byte) {
			if v, err := strconv.ParseFloat(string(b), 64); err == nil {
				sum += v
			}
		}, nil
	case "influx":
		var dec point.Decoder
		add := func(p *point.Point) error {
			for _, f := range p.Fields {
				if v, ok := point.Float(f.Value); ok {
					sum += v
				}
			}
			sum += float64(p.Time & 1)
			return nil
		}
		return func(b []byte) {
			if err := dec.Parse(b, add); err != nil {
				fmt.Fprintln(os.Stderr, "subscriber: parse:", err)
			}
		}, nil
	}
	return nil, fmt.Errorf("-bare-parse: format %q not supported (value or influx)", format)
}
