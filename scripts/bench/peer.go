package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// The -peer experiment measures another agent a gateway could run, at the
// same load and in the same rounds as the bare subscriber and rivulet.
//
// collectd (Debian's collectd-core) is the one here: its mqtt plugin
// subscribes to the sensor topics on the same broker, and its csv plugin
// writes every reading to a file, as a user of collectd who keeps the raw
// readings would configure it. It does no windowing, no detection and no
// fsync, so it does less than rivulet's pipeline. Its payloads differ by
// two bytes: collectd takes "N:21.34" (N: now) where the others take
// "21.34". Its count of readings is the lines of its csv files.

// readyHost is the collectd host of the readiness probes, which the
// reading count leaves out.
const readyHost = "zone-ready"

// measurePeer measures the peer agent o.peer over one live round.
func measurePeer(o options, dir, broker string, round int) (sample, error) {
	if o.peer != "collectd" {
		return sample{}, fmt.Errorf("-peer: unknown agent %q (collectd)", o.peer)
	}
	if o.mode != "live" || o.traffic.format != "value" {
		return sample{}, errors.New("-peer collectd: live mode and value payloads only")
	}
	d := filepath.Join(dir, fmt.Sprintf("collectd-%d", round))
	csv := filepath.Join(d, "csv")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return sample{}, err
	}
	hostPort := strings.TrimPrefix(broker, "tcp://")
	i := strings.LastIndexByte(hostPort, ':')
	conf := fmt.Sprintf(`Hostname "bench"
FQDNLookup false
BaseDir %q
PIDFile %q
TypesDB "/usr/share/collectd/types.db"
LoadPlugin logfile
<Plugin logfile>
  LogLevel warning
  File STDERR
</Plugin>
LoadPlugin mqtt
<Plugin mqtt>
  <Subscribe "sensors">
    Host %q
    Port %s
    ClientId "bench-collectd-%d"
    QoS %d
    Topic "site/#"
  </Subscribe>
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir %q
  StoreRates false
</Plugin>
`, d, filepath.Join(d, "collectd.pid"), hostPort[:i], hostPort[i+1:], round, o.traffic.qos, csv)
	path := filepath.Join(d, "collectd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return sample{}, err
	}
	log, err := os.Create(filepath.Join(d, "collectd.log"))
	if err != nil {
		return sample{}, err
	}
	defer log.Close()
	cmd := exec.Command("collectd", "-f", "-C", path)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return sample{}, fmt.Errorf("start collectd (apt-get install collectd-core): %w", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	watchAnon(cmd.Process.Pid)
	if err := peerReady(broker, csv); err != nil {
		return sample{}, fmt.Errorf("collectd: %w (its log: %s)", err, log.Name())
	}
	count := func() (float64, float64, error) {
		n, err := csvReadings(csv)
		return n, n, err
	}
	p := o
	p.traffic.collectd = true
	w, err := runLive(p, broker, count, cmd.Process.Pid, nil)
	if err != nil {
		return sample{}, err
	}
	s := w.sample(o)
	s.fsyncs, s.logSyncs = nan, nan
	s.ackP50, s.ackP99, s.outP50, s.outP99, s.sinkP50, s.sinkP99, s.droppedInternal = nan, nan, nan, nan, nan, nan, nan
	return s, nil
}

// peerReady publishes a probe reading every 100 ms until collectd has
// written one, so that the load starts after it has subscribed.
func peerReady(broker, csv string) error {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("bench-peer-ready"))
	if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return fmt.Errorf("probe connect: %v", t.Error())
	}
	defer c.Disconnect(100)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		c.Publish("site/"+readyHost+"/probe/temperature", 1, false, "N:0").WaitTimeout(time.Second)
		time.Sleep(100 * time.Millisecond)
		if _, err := os.Stat(filepath.Join(csv, readyHost)); err == nil {
			return nil
		}
	}
	return errors.New("no probe reading written in 20 s")
}

// csvReadings counts the readings in collectd's csv files: their lines
// but the header line of each, the readiness probes left out.
func csvReadings(dir string) (float64, error) {
	var n int
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			return err
		case e.IsDir() && e.Name() == readyHost:
			return filepath.SkipDir
		case e.IsDir():
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if c := bytes.Count(b, []byte{'\n'}); c > 0 {
			n += c - 1
		}
		return nil
	})
	return float64(n), err
}
