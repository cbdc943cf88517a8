package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/rivulet-edge/rivulet/config"
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
	logger := cfg.Log.NewLogger(stderr)
	a, err := openAgent(cfg, logger, stdout)
	if err != nil {
		return err
	}
	defer a.close()
	if *demo {
		go func() {
			sim := defaultSimulation()
			sim.broker = cfg.Sources.MQTT[0].Broker
			if err := sim.run(ctx, logger); err != nil && ctx.Err() == nil {
				logger.Error("simulator stopped", "err", err)
			}
		}()
	}
	err = a.run(ctx)
	logger.Info("stopped", "err", err)
	return err
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
