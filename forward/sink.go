package forward

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/rivulet-edge/rivulet/ingest"
)

// Sink delivers line protocol to one upstream. The Runner never calls Write
// and Close concurrently, and calls nothing after Close.
type Sink interface {
	// Write delivers lines (newline-terminated line protocol, ns precision)
	// upstream. It returns nil only once the upstream has them: accepted by
	// the server, or written to a file whose Sync method (the Runner calls
	// it before saving the cursor past them) makes them durable. Failures are *RetryableError or
	// *PermanentError; any other error counts as retryable. Implementations
	// must not retain lines.
	Write(ctx context.Context, lines []byte) error
	// Close releases connections and files. It is safe to call twice.
	Close() error
}

// New builds the sink cfg describes. It reads token_file and password_file
// here, so a missing secret fails at startup rather than at first delivery.
func New(cfg Config, logger *slog.Logger) (Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sink %q: %w", cfg.Name, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("sink", cfg.Name)
	if cfg.Format == "" {
		cfg.Format = DefaultFormat(cfg.Type)
	}
	switch cfg.Type {
	case "influx":
		return newInflux(cfg, logger)
	case "file":
		return newFile(cfg)
	case "mqtt":
		return newMQTT(cfg, logger)
	case "http":
		return newHTTP(cfg, logger)
	case "kafka":
		return newKafka(cfg, logger)
	default:
		return NewStdout(os.Stdout), nil
	}
}

// DefaultFormat is the payload format of a sink type when `format` is not
// set: line protocol for influx, file and stdout, JSON for mqtt, http and
// kafka.
func DefaultFormat(typ string) string {
	switch typ {
	case "mqtt", "http", "kafka":
		return "json"
	}
	return "line"
}

// readSecret returns the trimmed content of a secret file. Errors name the
// file, never its content.
func readSecret(key, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", key, path)
	}
	return s, nil
}

// tlsConfig builds the client TLS configuration of c with ingest's
// builder, which takes the same keys.
func tlsConfig(c TLSConfig, logger *slog.Logger) (*tls.Config, error) {
	return ingest.ClientTLS(ingest.TLSConfig{CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile,
		ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify, AllowInsecure: c.AllowInsecure}, "upstream", logger)
}

// stdoutSink writes lines to a writer, typically os.Stdout.
type stdoutSink struct {
	w io.Writer
}

// NewStdout returns a sink that writes lines to w. Close does not close w.
func NewStdout(w io.Writer) Sink { return &stdoutSink{w: w} }

func (s *stdoutSink) Write(_ context.Context, lines []byte) error {
	if _, err := s.w.Write(lines); err != nil {
		return &RetryableError{Err: fmt.Errorf("write stdout: %w", err)}
	}
	return nil
}

func (s *stdoutSink) Close() error { return nil }
