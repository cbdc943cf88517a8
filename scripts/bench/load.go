package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// traffic describes the sensor traffic the load generator publishes.
//
// A message comes from one device (gateway) and carries points readings,
// one per sensor of that device, all stamped with the send time (influx and
// json; a value payload has no timestamp and takes rivulet's ingest time).
// series = devices × points; devices are visited round-robin.
type traffic struct {
	format string // value | influx | json
	qos    byte
	points int // points per message (influx and json)
	series int
	// collectd: value payloads in collectd's form, "N:21.34" (the -peer
	// collectd rounds only)
	collectd bool
}

func (t traffic) devices() int { return max(1, (t.series+t.points-1)/t.points) }

// topic is the topic device d publishes on.
func (t traffic) topic(d int) string {
	suffix := map[string]string{"value": "temperature", "influx": "lp", "json": "json"}[t.format]
	return fmt.Sprintf("site/zone-%d/dev-%d/%s", d%10, d, suffix)
}

// reading is a plausible temperature of sensor k of device d at ns: a slow
// daily-like swing with a per-sensor phase and a little deterministic noise.
func reading(d, k int, ns int64, seq uint64) float64 {
	phase := float64(d*7+k) * 0.37
	noise := float64((seq*2654435761+uint64(d))%200)/1000 - 0.1
	return 21 + 4*math.Sin(float64(ns)/60e9+phase) + noise
}

// payload appends the message of device d sent at ns to b and returns it
// with the line-protocol size of its points as rivulet would store them
// (measurement, sorted tags, field, 19-digit timestamp, newline).
func (t traffic) payload(b []byte, d int, ns int64, seq uint64) ([]byte, int) {
	lp := 0
	// Tags the topic template adds: device=dev-N, zone=zone-M.
	tagLen := len(",device=dev-") + len(strconv.Itoa(d)) + len(",zone=zone-") + len(strconv.Itoa(d%10))
	switch t.format {
	case "value":
		v := reading(d, 0, ns, seq)
		if t.collectd {
			b = append(b, "N:"...)
		}
		start := len(b)
		b = strconv.AppendFloat(b, v, 'f', 2, 64)
		lp = len("temperature") + tagLen + len(" value=") + len(b) - start + 20
	case "influx":
		for k := 0; k < t.points; k++ {
			start := len(b)
			b = append(b, "temperature,sensor=s"...)
			b = strconv.AppendInt(b, int64(k), 10)
			b = append(b, " value="...)
			b = strconv.AppendFloat(b, reading(d, k, ns, seq), 'f', 2, 64)
			b = append(b, ' ')
			b = strconv.AppendInt(b, ns, 10)
			b = append(b, '\n')
			lp += len(b) - start + tagLen
		}
	case "json":
		b = append(b, '[')
		for k := 0; k < t.points; k++ {
			if k > 0 {
				b = append(b, ',')
			}
			v := strconv.AppendFloat(nil, reading(d, k, ns, seq), 'f', 2, 64)
			b = append(b, `{"sensor":"s`...)
			b = strconv.AppendInt(b, int64(k), 10)
			b = append(b, `","value":`...)
			b = append(b, v...)
			b = append(b, `,"ts":`...)
			b = strconv.AppendInt(b, ns, 10)
			b = append(b, '}')
			lp += len("temperature,sensor=s") + len(strconv.Itoa(k)) + tagLen + len(" value=") + len(v) + 21
		}
		b = append(b, ']')
	}
	return b, lp
}

// generator publishes traffic; its counters may be read while it runs.
type generator struct {
	t       traffic
	client  mqtt.Client
	sent    atomic.Int64 // messages handed to the client
	points  atomic.Int64
	lpBytes atomic.Int64 // line-protocol size of the points sent
	seq     uint64
	buf     []byte
}

func newGenerator(broker, id string, t traffic) (*generator, error) {
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(true).
		SetMaxResumePubInFlight(1024).SetWriteTimeout(30 * time.Second)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("load generator connect: %v", tok.Error())
	}
	return &generator{t: t, client: c}, nil
}

func (g *generator) close() { g.client.Disconnect(100) }

// publish sends the next message and returns its token.
func (g *generator) publish() mqtt.Token {
	d := int(g.seq % uint64(g.t.devices()))
	ns := time.Now().UnixNano()
	var lp int
	g.buf, lp = g.t.payload(g.buf[:0], d, ns, g.seq)
	g.seq++
	// paho keeps the payload until it is written: give it its own copy.
	tok := g.client.Publish(g.t.topic(d), g.t.qos, false, append([]byte(nil), g.buf...))
	g.sent.Add(1)
	g.points.Add(int64(g.t.points))
	g.lpBytes.Add(int64(lp))
	return tok
}

// run publishes rate messages per second (0: as fast as the broker takes
// them, keeping up to 512 QoS 1 publishes in flight) until stop is closed
// or limit messages (0: no limit) are sent. It waits for the last token.
func (g *generator) run(rate, limit int, stop <-chan struct{}) error {
	window := make(chan mqtt.Token, 512)
	wait := func(tok mqtt.Token) error {
		if !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
			return fmt.Errorf("publish: %v", tok.Error())
		}
		return nil
	}
	send := func() error {
		tok := g.publish()
		select {
		case window <- tok:
			return nil
		default:
		}
		if err := wait(<-window); err != nil {
			return err
		}
		window <- tok
		return nil
	}
	const tick = 5 * time.Millisecond
	start := time.Now()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	var err error
loop:
	for limit == 0 || int(g.sent.Load()) < limit {
		select {
		case <-stop:
			break loop
		default:
		}
		if rate == 0 {
			if err = send(); err != nil {
				break
			}
			continue
		}
		// Catch up with the schedule, then sleep a tick.
		due := int(time.Since(start).Seconds() * float64(rate))
		for n := int(g.sent.Load()); n < due && (limit == 0 || n < limit); n++ {
			if err = send(); err != nil {
				break loop
			}
		}
		select {
		case <-stop:
			break loop
		case <-ticker.C:
		}
	}
	close(window)
	// The last tokens: a QoS 0 token the client never completes must not
	// hold the run, so the wait is bounded as a whole.
	deadline := time.Now().Add(30 * time.Second)
	for tok := range window {
		if !tok.WaitTimeout(time.Until(deadline)) {
			if err == nil && g.t.qos > 0 {
				err = fmt.Errorf("publish: tokens not complete after 30s")
			}
			break
		}
		if tok.Error() != nil && err == nil {
			err = fmt.Errorf("publish: %w", tok.Error())
		}
	}
	return err
}

// probe publishes one latency probe every interval until stop: an influx
// line whose timestamp is its send time, on a topic of its own.
func probe(broker string, every time.Duration, qos byte, stop <-chan struct{}, sent *atomic.Int64) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("bench-probe"))
	if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		fmt.Fprintln(os.Stderr, "probe connect:", t.Error())
		return
	}
	defer c.Disconnect(100)
	t := time.NewTicker(every)
	defer t.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		c.Publish("bench/probe", qos, false, fmt.Sprintf("probe seq=%di %d\n", seq, time.Now().UnixNano()))
		sent.Add(1)
	}
}
