package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// simulation publishes readings of simulated greenhouse sensors: per zone
// and sensor a temperature and a humidity that follow a slow daily-like
// curve with noise, and now and then a spike.
type simulation struct {
	broker   string
	clientID string
	prefix   string
	zones    int
	sensors  int
	interval time.Duration
	qos      int
	count    int     // readings per sensor; 0 = until stopped
	spikes   float64 // probability of a spike per reading
	seed     uint64
}

func defaultSimulation() simulation {
	return simulation{broker: "tcp://127.0.0.1:1883", clientID: "rivulet-simulator", prefix: "greenhouse",
		zones: 3, sensors: 2, interval: time.Second, qos: 1, spikes: 0.01, seed: 1}
}

func cmdSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sim := defaultSimulation()
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&sim.broker, "broker", sim.broker, "MQTT broker URL")
	fs.StringVar(&sim.clientID, "client-id", sim.clientID, "MQTT client id")
	fs.StringVar(&sim.prefix, "prefix", sim.prefix, "topic prefix: PREFIX/zone-N/sN/{temperature,humidity}")
	fs.IntVar(&sim.zones, "zones", sim.zones, "number of zones")
	fs.IntVar(&sim.sensors, "sensors", sim.sensors, "sensors per zone")
	fs.DurationVar(&sim.interval, "interval", sim.interval, "time between readings of one sensor")
	fs.IntVar(&sim.qos, "qos", sim.qos, "MQTT QoS (0 or 1)")
	fs.IntVar(&sim.count, "count", sim.count, "readings per sensor, 0 = until interrupted")
	fs.Float64Var(&sim.spikes, "spikes", sim.spikes, "probability of a spike per reading")
	fs.Uint64Var(&sim.seed, "seed", sim.seed, "random seed")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if sim.zones < 1 || sim.sensors < 1 || sim.interval <= 0 || sim.qos < 0 || sim.qos > 1 {
		fmt.Fprintln(stderr, "rivulet simulate: need zones ≥ 1, sensors ≥ 1, interval > 0, qos 0 or 1")
		return exitCode(2)
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	return sim.run(ctx, logger)
}

func (s simulation) run(ctx context.Context, logger *slog.Logger) error {
	opts := mqtt.NewClientOptions().AddBroker(s.broker).SetClientID(s.clientID).
		SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).SetAutoReconnect(true)
	client := mqtt.NewClient(opts)
	tok := client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return nil
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("connect %s: %w", s.broker, err)
	}
	defer client.Disconnect(250)
	logger.Info("simulator publishing", "broker", s.broker, "zones", s.zones, "sensors", s.sensors, "interval", s.interval)
	rng := rand.New(rand.NewPCG(s.seed, s.seed^0x9e3779b97f4a7c15))
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for n := 0; s.count == 0 || n < s.count; n++ {
		if err := s.publishRound(client, rng, n); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
	return nil
}

func (s simulation) publishRound(client mqtt.Client, rng *rand.Rand, n int) error {
	phase := 2 * math.Pi * float64(n) / 600
	for z := 1; z <= s.zones; z++ {
		for k := 1; k <= s.sensors; k++ {
			base := fmt.Sprintf("%s/zone-%d/s%d/", s.prefix, z, k)
			temp := 21 + float64(z) + 3*math.Sin(phase) + rng.NormFloat64()*0.2
			if rng.Float64() < s.spikes {
				temp += 15
			}
			hum := 60 - 10*math.Sin(phase) + rng.NormFloat64()
			for topic, v := range map[string]float64{base + "temperature": temp, base + "humidity": hum} {
				tok := client.Publish(topic, byte(s.qos), false, strconv.FormatFloat(v, 'f', 2, 64))
				if tok.WaitTimeout(10*time.Second) && tok.Error() != nil {
					return fmt.Errorf("publish %s: %w", topic, tok.Error())
				}
			}
		}
	}
	return nil
}
