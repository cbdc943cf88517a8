//go:build !nokafka

package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/rivulet-edge/rivulet/point"
)

// kafkaCompression maps the compression key to franz-go codecs.
var kafkaCompression = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

// validateKafka checks the keys of a kafka sink.
func (c Config) validateKafka() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(c.Brokers) == 0 {
		add("brokers: at least one host:port is required")
	}
	for i, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if n, perr := strconv.ParseUint(port, 10, 16); err != nil || host == "" || strings.Contains(host, "/") || perr != nil || n == 0 {
			add("brokers[%d]: must be host:port, got %q", i, b)
		}
	}
	if _, err := compileTopic(c.Topic, c.MissingTag, kafkaTopicRules); err != nil {
		add("topic: %v", err)
	}
	switch c.SASL {
	case "":
		if c.Username != "" {
			add("username: needs sasl (plain, scram-sha-256 or scram-sha-512)")
		}
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.Username == "" || c.PasswordFile == "" {
			add("sasl: %s needs username and password_file", c.SASL)
		}
	default:
		add("sasl: must be plain, scram-sha-256 or scram-sha-512, got %q", c.SASL)
	}
	if _, ok := kafkaCompression[c.Compression]; !ok {
		add("compression: must be none, gzip, snappy, lz4 or zstd, got %q", c.Compression)
	}
	errs = append(errs, c.validateTLS(true, "")...)
	errs = append(errs, c.validateFormat()...)
	return append(errs, c.validateCredentials()...)
}

// kafkaSink produces one record per point with franz-go: the idempotent
// producer (franz-go's default), acks from all in-sync replicas, key = the
// point's series identity (so a series stays on one partition, in order),
// value = the point as JSON or one line of line protocol, record timestamp
// = the point's time. A batch is delivered when every record is acked.
// timeout bounds the wait, except that franz-go does not fail a record
// whose produce request is out and unanswered (that would break the
// idempotent sequence), so a Write can outlast it by the broker's answer.
//
// Duplicates: within one client the idempotent producer makes franz-go's
// own retries of a produce request harmless (the broker drops a repeated
// sequence number). A Write that fails is sent again by the Runner as new
// records, and after a restart the Runner re-sends everything after the
// outbox cursor with a new producer id; either can store a record twice.
// Such a repeat has the same key, value and timestamp, so a consumer can
// drop it by (key, timestamp), e.g. Spark's dropDuplicates or a keyed
// dedupe in Flink. Exactly-once would need Kafka transactions tied to the
// outbox cursor, which this sink does not do.
type kafkaSink struct {
	client  *kgo.Client
	topic   *topicTemplate
	json    bool
	timeout time.Duration

	closeOnce sync.Once
	dec       point.Decoder
	enc       point.Encoder
	keyEnc    lineprotocol.Encoder
	records   []*kgo.Record
}

func newKafka(cfg Config, logger *slog.Logger) (*kafkaSink, error) {
	if cfg.Format == "" {
		cfg.Format = DefaultFormat(cfg.Type)
	}
	topic, err := compileTopic(cfg.Topic, cfg.MissingTag, kafkaTopicRules)
	if err != nil {
		return nil, fmt.Errorf("topic: %w", err)
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("rivulet-" + cfg.Name),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kafkaCompression[cfg.Compression]),
		kgo.ProduceRequestTimeout(cfg.Timeout),
		kgo.DialTimeout(cfg.Timeout),
		kgo.WithLogger(kafkaLogger{logger}),
	}
	if cfg.TLS != (TLSConfig{}) {
		tc, err := tlsConfig(cfg.TLS, logger)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if cfg.SASL != "" {
		m, err := kafkaSASL(cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	logger.Debug("kafka sink ready", "brokers", strings.Join(cfg.Brokers, ","), "topic", cfg.Topic,
		"format", cfg.Format, "tls", cfg.TLS != (TLSConfig{}), "sasl", cfg.SASL)
	return &kafkaSink{client: client, topic: topic, json: cfg.Format == "json", timeout: cfg.Timeout}, nil
}

// kafkaSASL builds the SASL mechanism, reading password_file.
func kafkaSASL(cfg Config) (sasl.Mechanism, error) {
	pw, err := readSecret("password_file", cfg.PasswordFile)
	if err != nil {
		return nil, err
	}
	switch cfg.SASL {
	case "plain":
		return plain.Auth{User: cfg.Username, Pass: pw}.AsMechanism(), nil
	case "scram-sha-256":
		return scram.Auth{User: cfg.Username, Pass: pw}.AsSha256Mechanism(), nil
	default:
		return scram.Auth{User: cfg.Username, Pass: pw}.AsSha512Mechanism(), nil
	}
}

func (s *kafkaSink) Write(ctx context.Context, lines []byte) error {
	if err := s.build(lines); err != nil || len(s.records) == 0 {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return classifyKafka(s.client.ProduceSync(ctx, s.records...))
}

// build renders lines as records. Keys and values are fresh slices:
// franz-go may hold them until the produce finishes.
func (s *kafkaSink) build(lines []byte) error {
	clear(s.records)
	s.records = s.records[:0]
	var topic []byte
	return eachPoint(&s.dec, lines, func(p *point.Point) error {
		var err error
		if topic, err = s.topic.render(topic[:0], p); err != nil {
			return &PermanentError{Err: err}
		}
		key, err := appendSeriesKey(nil, &s.keyEnc, p)
		if err != nil {
			return &PermanentError{Err: err}
		}
		var value []byte
		if s.json {
			value = appendJSON(nil, p)
		} else if value, err = s.enc.Append(nil, p); err != nil {
			return &PermanentError{Err: err}
		}
		s.records = append(s.records, &kgo.Record{Topic: string(topic), Key: key, Value: value,
			Timestamp: time.Unix(0, p.Time)})
		return nil
	})
}

// classifyKafka sums up the results of a batch: nil when all records were
// acked; a *PermanentError when every failure is one that sending the same
// record again cannot fix (too large, invalid); otherwise a
// *RetryableError, slow (configRetry) when the cause is the sink's
// configuration (authorization, a topic that does not exist).
func classifyKafka(results kgo.ProduceResults) error {
	var first error
	failed, permanent, config := 0, 0, 0
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		failed++
		if first == nil {
			first = fmt.Errorf("produce to %s: %w", r.Record.Topic, r.Err)
		}
		switch {
		case kafkaPermanent(r.Err):
			permanent++
		case kafkaConfigError(r.Err):
			config++
		}
	}
	switch {
	case failed == 0:
		return nil
	case permanent == failed:
		return &PermanentError{Err: fmt.Errorf("%d of %d records: %w", failed, len(results), first)}
	case config > 0:
		return &RetryableError{Err: fmt.Errorf("%d of %d records: %w (check the sink's topic, brokers and credentials)",
			failed, len(results), first), After: configRetry}
	default:
		return &RetryableError{Err: fmt.Errorf("%d of %d records: %w", failed, len(results), first)}
	}
}

func kafkaPermanent(err error) bool {
	for _, e := range []error{kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord,
		kerr.CorruptMessage, kerr.InvalidTimestamp, kerr.InvalidTopicException} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func kafkaConfigError(err error) bool {
	for _, e := range []error{kerr.TopicAuthorizationFailed, kerr.ClusterAuthorizationFailed,
		kerr.SaslAuthenticationFailed, kerr.UnknownTopicOrPartition, kerr.UnknownTopicID} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Close closes the client; records still buffered (none, between Writes)
// fail. It is safe to call twice.
func (s *kafkaSink) Close() error {
	s.closeOnce.Do(s.client.Close)
	return nil
}

// kafkaLogger passes franz-go's warnings and errors to the sink's logger.
type kafkaLogger struct{ l *slog.Logger }

func (k kafkaLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kafkaLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	switch level {
	case kgo.LogLevelError:
		k.l.Error("kafka: "+msg, keyvals...)
	case kgo.LogLevelWarn:
		k.l.Warn("kafka: "+msg, keyvals...)
	}
}
