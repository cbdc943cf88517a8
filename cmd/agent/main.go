// Command rivulet is a streaming agent for IoT gateways: it subscribes to
// sensors over MQTT, commits the stream to a local write-ahead log in
// micro-batches, computes windowed aggregates on the device and forwards
// them upstream with store-and-forward retry.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/rivulet-edge/rivulet/config"
)

// Set by the build (see Makefile).
var (
	version = "dev"
	commit  = "unknown"
)

const usage = `rivulet — a streaming agent for IoT gateways

usage:
  rivulet run      --config FILE    run the agent
  rivulet run      --demo           run the built-in demo: embedded broker, simulated sensors, 10 s windows
  rivulet validate --config FILE    check a site config; prints every problem with its key path, exits 2 if any
  rivulet simulate [flags]          publish simulated sensor readings to a broker (see rivulet simulate -h)
  rivulet inspect  wal|checkpoint|outbox --config FILE [--sink NAME] [--from N] [--limit N] [--points]
                                    show what data_dir holds, without changing it (agent stopped)
  rivulet replay   --config FILE --to FILE [--from N] [--flush]
                                    run the retained ingest log through the config's pipeline into FILE
  rivulet detect   --config FILE --input series.csv [--rule NAME] [--output FILE]
                                    run a detect step over a CSV history (timestamp,value) to tune it
  rivulet outbox status --config FILE [--json]
                                    each sink's backlog, oldest result, last error and next retry
  rivulet version                   print the version
`

// exitCode carries a process exit status through an error.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func main() {
	// Nothing reads heap profiles (there is no profiling endpoint), and
	// sampling them costs a table of up to 1.4 MB and a little CPU per
	// allocation.
	runtime.MemProfileRate = 0
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var code exitCode
	switch {
	case err == nil:
	case errors.As(err, &code):
		os.Exit(int(code))
	default:
		fmt.Fprintln(os.Stderr, "rivulet:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitCode(2)
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "outbox":
		return cmdOutbox(ctx, args[1:], stdout, stderr)
	case "simulate":
		return cmdSimulate(ctx, args[1:], stdout, stderr)
	case "inspect":
		return cmdInspect(args[1:], stdout, stderr)
	case "replay":
		return cmdReplay(args[1:], stdout, stderr)
	case "detect":
		return cmdDetect(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "rivulet %s (commit %s)\n", version, commit)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "rivulet: unknown command %q\n\n%s", args[0], usage)
	return exitCode(2)
}

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "site config file (YAML, TOML or JSON)")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if *path == "" && fs.NArg() == 1 {
		*path = fs.Arg(0)
	}
	if *path == "" {
		fmt.Fprintln(stderr, "rivulet validate: --config FILE is required")
		return exitCode(2)
	}
	if _, err := config.Load(*path); err != nil {
		var cerr *config.Error
		if errors.As(err, &cerr) {
			fmt.Fprintf(stderr, "%s: %d problem(s):\n", *path, len(cerr.Problems))
		}
		fmt.Fprintln(stderr, err)
		return exitCode(2)
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return nil
}
