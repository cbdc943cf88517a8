// Command bench measures rivulet's sustained QoS 1 throughput against
// mosquitto on loopback, next to a bare paho subscriber measured in the same
// run, and prints a markdown table.
//
// Method: for each consumer (bare subscriber, rivulet) a persistent session
// is created, the consumer stops, the load generator queues N QoS 1
// messages in the broker for it, then the consumer starts again and drains
// the backlog. Rate = N / (time from starting the process to its N-th
// message, so start-up and connect count, alike for both); CPU =
// utime+stime of the consumer process from /proc over its whole run; peak
// RSS = VmHWM. Consumers alternate for R rounds; the table gives medians.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

type options struct {
	rivulet  string
	messages int
	rounds   int
	inflight int
	devices  int
	durable  string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "subscribe" {
		if err := bareSubscriber(os.Args[2], os.Args[3], os.Args[4]); err != nil {
			fmt.Fprintln(os.Stderr, "subscriber:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.rivulet, "rivulet", "bin/rivulet", "path of the rivulet binary")
	flag.IntVar(&o.messages, "messages", 200000, "QoS 1 messages per measurement")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each measures both consumers")
	flag.IntVar(&o.inflight, "inflight", 1000, "mosquitto max_inflight_messages")
	flag.IntVar(&o.devices, "devices", 100, "simulated devices (topics)")
	flag.StringVar(&o.durable, "durability", "fsync", "rivulet wal.durability")
	foot := flag.Bool("footprint", false, "measure idle and steady-load CPU and RSS instead of throughput")
	rate := flag.Int("rate", 10000, "footprint: messages per second under load")
	series := flag.Int("series", 10000, "footprint: distinct series (topics) under load")
	window := flag.Duration("window", 30*time.Second, "footprint: measuring time per state")
	flag.Parse()
	if *foot {
		if err := footprint(o, *rate, *series, *window); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := bench(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// sample is one consumer's measurement.
type sample struct {
	rate, cpuPerMsg, rssMB, syncsPerSec float64
}

func bench(o options) error {
	dir, err := os.MkdirTemp("", "rivulet-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	broker, stop, err := startMosquitto(dir, o.inflight)
	if err != nil {
		return err
	}
	defer stop()
	var bare, riv []sample
	for r := 0; r < o.rounds; r++ {
		b, err := measureBare(o, dir, broker, r)
		if err != nil {
			return fmt.Errorf("bare subscriber: %w", err)
		}
		v, err := measureRivulet(o, dir, broker, r)
		if err != nil {
			return fmt.Errorf("rivulet: %w", err)
		}
		fmt.Fprintf(os.Stderr, "round %d: bare %.0f msg/s %.1f µs/msg %.1f MB | rivulet %.0f msg/s %.1f µs/msg %.1f MB %.0f syncs/s\n",
			r+1, b.rate, b.cpuPerMsg, b.rssMB, v.rate, v.cpuPerMsg, v.rssMB, v.syncsPerSec)
		bare, riv = append(bare, b), append(riv, v)
	}
	report(o, median(bare), median(riv))
	return nil
}

func report(o options, b, r sample) {
	fmt.Printf("| consumer | QoS 1 msgs/s | vs bare | CPU µs/msg | vs bare | peak RSS MB | fsyncs/s |\n")
	fmt.Printf("|---|---:|---:|---:|---:|---:|---:|\n")
	fmt.Printf("| bare paho subscriber | %.0f | 1.00 | %.1f | 1.00 | %.1f | – |\n", b.rate, b.cpuPerMsg, b.rssMB)
	fmt.Printf("| rivulet (wal.durability %s) | %.0f | %.2f | %.1f | %.2f | %.1f | %.0f |\n",
		o.durable, r.rate, r.rate/b.rate, r.cpuPerMsg, r.cpuPerMsg/b.cpuPerMsg, r.rssMB, r.syncsPerSec)
	fmt.Printf("\n%d messages per measurement, %d devices, mosquitto max_inflight_messages %d, medians of %d rounds.\n",
		o.messages, o.devices, o.inflight, o.rounds)
}

func median(s []sample) sample {
	pick := func(f func(sample) float64) float64 {
		v := make([]float64, len(s))
		for i := range s {
			v[i] = f(s[i])
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return sample{rate: pick(func(x sample) float64 { return x.rate }),
		cpuPerMsg:   pick(func(x sample) float64 { return x.cpuPerMsg }),
		rssMB:       pick(func(x sample) float64 { return x.rssMB }),
		syncsPerSec: pick(func(x sample) float64 { return x.syncsPerSec })}
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

// load queues n QoS 1 value payloads, spread over devices topics, keeping
// up to 256 publishes in flight.
func load(broker string, n, devices int) error {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("bench-load").SetMaxResumePubInFlight(256))
	if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return fmt.Errorf("load connect: %v", t.Error())
	}
	defer c.Disconnect(100)
	window := make(chan mqtt.Token, 256)
	for i := 0; i < n; i++ {
		topic := fmt.Sprintf("site/zone-%d/dev-%d/temperature", i%devices%10, i%devices)
		tok := c.Publish(topic, 1, false, strconv.FormatFloat(20+float64(i%97)/10, 'f', 2, 64))
		select {
		case window <- tok:
		default:
			old := <-window
			if !old.WaitTimeout(30*time.Second) || old.Error() != nil {
				return fmt.Errorf("publish: %v", old.Error())
			}
			window <- tok
		}
	}
	close(window)
	for tok := range window {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			return fmt.Errorf("publish: %v", tok.Error())
		}
	}
	return nil
}

// procStats returns utime+stime and VmHWM of pid.
func procStats(pid int) (cpu time.Duration, rssKB int64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			rssKB, _ = strconv.ParseInt(strings.Fields(line)[1], 10, 64)
		}
	}
	return cpu, rssKB, nil
}

func measureBare(o options, dir, broker string, round int) (sample, error) {
	self, err := os.Executable()
	if err != nil {
		return sample{}, err
	}
	id := fmt.Sprintf("bench-bare-%d", round)
	// First run creates the persistent session; 0 means "subscribe and exit".
	if out, err := exec.Command(self, "subscribe", broker, id, "0").CombinedOutput(); err != nil {
		return sample{}, fmt.Errorf("%v: %s", err, out)
	}
	if err := load(broker, o.messages, o.devices); err != nil {
		return sample{}, err
	}
	cmd := exec.Command(self, "subscribe", broker, id, strconv.Itoa(o.messages))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return sample{}, fmt.Errorf("no result line: %w", err)
	}
	secs := time.Since(t0).Seconds()
	if !strings.HasPrefix(line, "done") {
		return sample{}, fmt.Errorf("bad result line %q", line)
	}
	cpu, rss, err := procStats(cmd.Process.Pid)
	if err != nil {
		return sample{}, err
	}
	return sample{rate: float64(o.messages) / secs, cpuPerMsg: float64(cpu.Microseconds()) / float64(o.messages),
		rssMB: float64(rss) / 1024}, nil
}

// bareSubscriber subscribes with QoS 1 on a persistent session, auto-acks,
// and prints "done <seconds>" after n messages (from first to n-th).
func bareSubscriber(broker, id, nstr string) error {
	n, _ := strconv.Atoi(nstr)
	got := 0
	var first time.Time
	done := make(chan struct{})
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(false).
		SetDefaultPublishHandler(func(mqtt.Client, mqtt.Message) {
			if got == 0 {
				first = time.Now()
			}
			got++
			if got == n {
				fmt.Printf("done %g\n", time.Since(first).Seconds())
				close(done)
			}
		})
	c := mqtt.NewClient(opts)
	if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return fmt.Errorf("connect: %v", t.Error())
	}
	if t := c.Subscribe("site/#", 1, nil); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return fmt.Errorf("subscribe: %v", t.Error())
	}
	if n == 0 {
		c.Disconnect(100)
		return nil
	}
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		return fmt.Errorf("received %d of %d", got, n)
	}
	time.Sleep(time.Hour) // the harness reads /proc, then kills us
	return nil
}

func measureRivulet(o options, dir, broker string, round int) (sample, error) {
	rdir := filepath.Join(dir, fmt.Sprintf("rivulet-%d", round))
	port, err := freePort()
	if err != nil {
		return sample{}, err
	}
	cfg, err := writeRivuletConfig(o, rdir, broker, port, round)
	if err != nil {
		return sample{}, err
	}
	// First run creates the persistent session.
	first, err := startRivulet(o, cfg, port)
	if err != nil {
		return sample{}, err
	}
	if err := first.stop(); err != nil {
		return sample{}, err
	}
	if err := load(broker, o.messages, o.devices); err != nil {
		return sample{}, err
	}
	cmd := exec.Command(o.rivulet, "run", "--config", cfg)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	p := &rivulet{cmd: cmd}
	defer p.stop()
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		m, err := scrape(port)
		if err == nil && m["rivulet_messages_total"] >= float64(o.messages) {
			secs := time.Since(t0).Seconds()
			cpu, rss, err := procStats(cmd.Process.Pid)
			if err != nil {
				return sample{}, err
			}
			return sample{rate: float64(o.messages) / secs, cpuPerMsg: float64(cpu.Microseconds()) / float64(o.messages),
				rssMB: float64(rss) / 1024, syncsPerSec: m["rivulet_syncs_total"] / secs}, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return sample{}, fmt.Errorf("rivulet did not consume %d messages in 10 minutes", o.messages)
}

func writeRivuletConfig(o options, dir, broker string, port, round int) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	cfg := fmt.Sprintf(`site: bench
data_dir: %[1]s/data
log: {level: warn}
http: {listen: "127.0.0.1:%[2]d"}
sources:
  mqtt:
    - name: sensors
      broker: %[3]s
      client_id: bench-rivulet-%[4]d
      qos: 1
      topics:
        - filter: site/+/+/temperature
          format: value
          measurement: temperature
          tags: {zone: "{1}", device: "{2}"}
wal: {durability: %[5]s}
pipeline:
  - name: temp_1m
    measurement: temperature
    window: {type: tumbling, size: 1m, max_delay: 5s, idle_timeout: 30s}
    group_by: [zone, device]
    aggregates: [count, mean, min, max]
    to: [local]
sinks:
  - name: local
    type: file
    path: %[1]s/results.lp
`, dir, port, broker, round, o.durable)
	path := filepath.Join(dir, "site.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

type rivulet struct{ cmd *exec.Cmd }

func startRivulet(o options, cfg string, port int) (*rivulet, error) {
	cmd := exec.Command(o.rivulet, "run", "--config", cfg)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &rivulet{cmd: cmd}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if _, err := scrape(port); err == nil {
			time.Sleep(300 * time.Millisecond) // let the source subscribe
			return r, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.stop()
	return nil, fmt.Errorf("rivulet did not serve /metrics on port %d", port)
}

func (r *rivulet) stop() error {
	r.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		r.cmd.Process.Kill()
		return fmt.Errorf("rivulet did not stop on SIGINT")
	}
}

func scrape(port int) (map[string]float64, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Fields(line); len(f) == 2 {
			v, _ := strconv.ParseFloat(f[1], 64)
			m[f[0]] = v
		}
	}
	return m, sc.Err()
}
