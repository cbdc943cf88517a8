package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/rivulet-edge/rivulet/config"
	"github.com/rivulet-edge/rivulet/ingest"
)

//go:embed demo.yaml
var demoConfig []byte

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "site config file (YAML, TOML or JSON)")
	demo := fs.Bool("demo", false, "run the built-in demo: embedded broker and simulated sensors")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	cfg, err := loadRunConfig(*path, *demo)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(2)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var b embeddedBroker
	defer b.close()
	for started := false; ; started = true {
		logger := cfg.Log.NewLogger(stderr)
		if err := b.ensure(cfg.EmbeddedBroker, logger); err != nil {
			return err
		}
		if *demo && !started {
			go runDemoSimulator(ctx, cfg.Sources.MQTT[0].Broker, logger)
		}
		next, err := runOnce(ctx, cfg, logger, stdout, hup, func() (*config.Config, error) { return loadRunConfig(*path, *demo) })
		if err != nil || next == nil {
			logger.Info("stopped", "err", err)
			return err
		}
		cfg = next
	}
}

// runOnce opens the agent for cfg and runs it until ctx is done, a stage
// fails, or SIGHUP brings a valid new config, which it returns after a
// graceful stop (drain, final checkpoint): the next run recovers from that
// checkpoint, so steps whose definition is unchanged keep their windows,
// and the broker holds what arrives meanwhile. An invalid new config is
// refused with a log line and the running one carries on.
func runOnce(ctx context.Context, cfg *config.Config, logger *slog.Logger, stdout io.Writer,
	hup <-chan os.Signal, reload func() (*config.Config, error)) (*config.Config, error) {
	a, err := openAgent(cfg, logger, stdout)
	if err != nil {
		return nil, err
	}
	defer a.close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next *config.Config
	go func() {
		<-runCtx.Done()
		if ctx.Err() != nil { // the final shutdown, not a reload
			logNotifyFailure(logger, "STOPPING=1")
		}
	}()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-runCtx.Done():
				return
			case <-hup:
			}
			c, err := reload()
			if err != nil {
				logRefusal(logger, err)
				continue
			}
			logger.Info("reloading config")
			logNotifyFailure(logger, "RELOADING=1")
			next = c
			cancel()
			return
		}
	}()
	err = a.run(runCtx)
	cancel()
	<-watched
	if err != nil || ctx.Err() != nil {
		return nil, err
	}
	return next, nil
}

// logRefusal logs why a new config was refused, one line per problem.
func logRefusal(logger *slog.Logger, err error) {
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		logger.Error("reload refused; the running config stays", "err", err)
		return
	}
	for _, p := range cerr.Problems {
		logger.Error("reload refused; the running config stays", "problem", p.String())
	}
}

func runDemoSimulator(ctx context.Context, broker string, logger *slog.Logger) {
	sim := defaultSimulation()
	sim.broker = broker
	if err := sim.run(ctx, logger); err != nil && ctx.Err() == nil {
		logger.Error("simulator stopped", "err", err)
	}
}

// embeddedBroker keeps the embedded MQTT broker running across reloads
// unless its own config changes, so clients stay connected.
type embeddedBroker struct {
	b   *ingest.Broker
	cfg ingest.BrokerConfig
}

func (e *embeddedBroker) ensure(cfg ingest.BrokerConfig, logger *slog.Logger) error {
	if e.b != nil && cfg == e.cfg {
		return nil
	}
	e.close()
	if !cfg.Enabled {
		return nil
	}
	b, err := ingest.NewBroker(cfg, logger)
	if err != nil {
		return fmt.Errorf("embedded broker: %w", err)
	}
	if err := b.Start(); err != nil {
		return fmt.Errorf("embedded broker: %w", err)
	}
	logger.Info("embedded broker listening", "addr", b.Addr())
	e.b, e.cfg = b, cfg
	return nil
}

func (e *embeddedBroker) close() {
	if e.b != nil {
		e.b.Close()
		e.b = nil
	}
}

func loadRunConfig(path string, demo bool) (*config.Config, error) {
	switch {
	case demo && path != "":
		return nil, fmt.Errorf("rivulet run: give --config or --demo, not both")
	case demo:
		cfg, err := config.LoadBytes(demoConfig, "yaml", os.Environ())
		if err != nil {
			return nil, err
		}
		// The demo's source is its own embedded broker, wherever that listens
		// (RIVULET_EMBEDDED_BROKER_LISTEN moves it).
		cfg.Sources.MQTT[0].Broker = "tcp://" + cfg.EmbeddedBroker.Listen
		return cfg, nil
	case path == "":
		return nil, fmt.Errorf("rivulet run: --config FILE is required (or --demo)")
	}
	return config.Load(path)
}
