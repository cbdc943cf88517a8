//go:build !nokafka

package forward

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaConfig is a valid kafka sink config for brokers.
func kafkaConfig(brokers ...string) Config {
	cfg := DefaultConfig()
	cfg.Name, cfg.Type, cfg.Brokers, cfg.Topic = "central", "kafka", brokers, "rivulet.{site}.{measurement}"
	cfg.Timeout = 5 * time.Second
	return cfg
}

func TestKafkaConfigValidate(t *testing.T) {
	kc := func(set func(*Config)) Config {
		c := kafkaConfig("k1:9092", "k2:9092")
		set(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; empty for valid
	}{
		{"valid", kc(func(*Config) {}), ""},
		{"scram over tls", kc(func(c *Config) {
			c.SASL, c.Username, c.PasswordFile, c.TLS.Enabled = "scram-sha-512", "u", "/pw", true
		}), ""},
		{"line lz4", kc(func(c *Config) { c.Format, c.Compression = "line", "lz4" }), ""},
		{"no brokers", kc(func(c *Config) { c.Brokers = nil }), "brokers: at least one"},
		{"bad broker", kc(func(c *Config) { c.Brokers = []string{"k1:9092", "tcp://k2"} }), `brokers[1]: must be host:port, got "tcp://k2"`},
		{"no topic", kc(func(c *Config) { c.Topic = "" }), "topic: must be set"},
		{"slash in topic", kc(func(c *Config) { c.Topic = "sites/{site}" }), "'/' is not allowed in a Kafka topic"},
		{"unknown placeholder", kc(func(c *Config) { c.Topic = "a.{x:y}" }), "topic: \"a.{x:y}\": unknown placeholder {x:y}"},
		{"bad sasl", kc(func(c *Config) { c.SASL = "gssapi" }), "sasl: must be plain, scram-sha-256 or scram-sha-512"},
		{"sasl without password", kc(func(c *Config) { c.SASL, c.Username = "plain", "u" }), "sasl: plain needs username and password_file"},
		{"username without sasl", kc(func(c *Config) { c.Username = "u" }), "username: needs sasl"},
		{"bad compression", kc(func(c *Config) { c.Compression = "brotli" }), "compression: must be"},
		{"cert without key", kc(func(c *Config) { c.TLS.KeyFile = "/k" }), "tls: cert_file and key_file"},
		{"bad format", kc(func(c *Config) { c.Format = "avro" }), "format: must be json or line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// newCluster starts an in-process Kafka on loopback.
func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// consumed is one record read back.
type consumed struct {
	Topic, Key, Value string
	Partition         int32
	Time              int64
}

// consume reads topics from the start until stop returns true for the
// records read so far.
func consume(t *testing.T, addrs []string, topics []string, stop func([]consumed) bool, opts ...kgo.Opt) []consumed {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	var out []consumed
	for !stop(out) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d records before the deadline: %v", len(out), out)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, consumed{r.Topic, string(r.Key), string(r.Value), r.Partition, r.Timestamp.UnixNano()})
		})
	}
	return out
}

func atLeast(n int) func([]consumed) bool { return func(c []consumed) bool { return len(c) >= n } }

// TestKafkaJSON produces one JSON record per point, keyed by series, to
// topics rendered per point, timestamped with the point's time.
func TestKafkaJSON(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "rivulet.north.alert", "rivulet.north.temp_1m"))
	s := newSink(t, kafkaConfig(c.ListenAddrs()...))
	batch := "alert,rule=hot,site=north v=81.5 1700000000000000000\n" +
		"temp_1m,sensor=t1,site=north mean=21i 1700000060000000000\n" +
		"alert,rule=hot,site=north v=82.5 1700000120000000000\n"
	if err := s.Write(context.Background(), []byte(batch)); err != nil {
		t.Fatal(err)
	}
	got := consume(t, c.ListenAddrs(), []string{"rivulet.north.alert", "rivulet.north.temp_1m"}, atLeast(3))
	slices.SortStableFunc(got, func(a, b consumed) int { return strings.Compare(a.Topic, b.Topic) })
	want := []consumed{
		{"rivulet.north.alert", "alert,rule=hot,site=north",
			`{"measurement":"alert","tags":{"rule":"hot","site":"north"},"fields":{"v":81.5},"time":"2023-11-14T22:13:20Z","ts":1700000000000000000}`,
			0, 1700000000000000000},
		{"rivulet.north.alert", "alert,rule=hot,site=north",
			`{"measurement":"alert","tags":{"rule":"hot","site":"north"},"fields":{"v":82.5},"time":"2023-11-14T22:15:20Z","ts":1700000120000000000}`,
			0, 1700000120000000000},
		{"rivulet.north.temp_1m", "temp_1m,sensor=t1,site=north",
			`{"measurement":"temp_1m","tags":{"sensor":"t1","site":"north"},"fields":{"mean":21},"time":"2023-11-14T22:14:20Z","ts":1700000060000000000}`,
			0, 1700000060000000000},
	}
	// Kafka keeps record timestamps in milliseconds.
	for i := range want {
		want[i].Time = want[i].Time / 1e6 * 1e6
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
}

// TestKafkaKeyKeepsSeriesOrder: over many partitions, all records of a
// series land on one partition, in batch order.
func TestKafkaKeyKeepsSeriesOrder(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(8, "lines"))
	cfg := kafkaConfig(c.ListenAddrs()...)
	cfg.Topic, cfg.Format = "lines", "line"
	s := newSink(t, cfg)
	var batch strings.Builder
	const series, per = 20, 10
	for i := range per {
		for k := range series {
			fmt.Fprintf(&batch, "m,sensor=s%02d v=%di %d\n", k, i, 1+i*series+k)
		}
	}
	if err := s.Write(context.Background(), []byte(batch.String())); err != nil {
		t.Fatal(err)
	}
	got := consume(t, c.ListenAddrs(), []string{"lines"}, atLeast(series*per))
	partition := map[string]int32{}
	next := map[string]int{}
	for _, r := range got {
		if p, ok := partition[r.Key]; ok && p != r.Partition {
			t.Errorf("series %s on partitions %d and %d", r.Key, p, r.Partition)
		}
		partition[r.Key] = r.Partition
		want := fmt.Sprintf("%s v=%di %d\n", r.Key, next[r.Key], 1+next[r.Key]*series+keyIndex(t, r.Key))
		if r.Value != want {
			t.Errorf("series %s: got %q, want %q", r.Key, r.Value, want)
		}
		next[r.Key]++
	}
	if len(partition) != series {
		t.Errorf("%d series, want %d", len(partition), series)
	}
	used := map[int32]bool{}
	for _, p := range partition {
		used[p] = true
	}
	if len(used) < 2 {
		t.Errorf("all series on %d partition(s); the key should spread them", len(used))
	}
}

// keyIndex reads k from "m,sensor=sKK".
func keyIndex(t *testing.T, key string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(key, "m,sensor=s"))
	if err != nil {
		t.Fatalf("key %q", key)
	}
	return n
}

// TestKafkaBrokerDownThenBack: no broker is retryable; once the cluster
// listens, the same Write delivers.
func TestKafkaBrokerDownThenBack(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := kafkaConfig(fmt.Sprintf("127.0.0.1:%d", port))
	cfg.Topic, cfg.Timeout = "up", time.Second
	s := newSink(t, cfg)
	var re *RetryableError
	if err := s.Write(context.Background(), []byte("m v=1 1\n")); !errors.As(err, &re) {
		t.Fatalf("no broker: got %v, want *RetryableError", err)
	}
	c := newCluster(t, kfake.Ports(port), kfake.SeedTopics(1, "up"))
	// The client backs off between dials; retry as the Runner would.
	deadline := time.Now().Add(testDeadline)
	for err := s.Write(context.Background(), []byte("m v=1 1\n")); err != nil; err = s.Write(context.Background(), []byte("m v=1 1\n")) {
		if !errors.As(err, &re) || time.Now().After(deadline) {
			t.Fatalf("cluster up: %v", err)
		}
	}
	got := consume(t, c.ListenAddrs(), []string{"up"}, atLeast(1))
	if got[0].Key != "m" {
		t.Errorf("got %v", got)
	}
}

// TestKafkaTooLargeIsPermanent: a record over the batch size limit can
// never be produced, so the batch is dead-lettered.
func TestKafkaTooLargeIsPermanent(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "big"))
	cfg := kafkaConfig(c.ListenAddrs()...)
	cfg.Topic, cfg.Compression = "big", "none"
	s := newSink(t, cfg)
	line := `m s="` + strings.Repeat("x", 2<<20) + "\" 1\n"
	var perm *PermanentError
	if err := s.Write(context.Background(), []byte(line)); !errors.As(err, &perm) {
		t.Fatalf("got %v, want *PermanentError", err)
	}
}

// TestKafkaSASL authenticates with each mechanism; a wrong password is
// retryable.
func TestKafkaSASL(t *testing.T) {
	c := newCluster(t, kfake.EnableSASL(), kfake.SeedTopics(1, "auth"),
		kfake.Superuser("PLAIN", "plainuser", "p-secret"),
		kfake.Superuser("SCRAM-SHA-256", "scram256", "s256-secret"),
		kfake.Superuser("SCRAM-SHA-512", "scram512", "s512-secret"))
	tests := []struct {
		mech, user, password string
		ok                   bool
	}{
		{"plain", "plainuser", "p-secret", true},
		{"scram-sha-256", "scram256", "s256-secret", true},
		{"scram-sha-512", "scram512", "s512-secret", true},
		{"scram-sha-256", "scram256", "wrong", false},
	}
	for _, tt := range tests {
		t.Run(tt.mech+" "+tt.password, func(t *testing.T) {
			cfg := kafkaConfig(c.ListenAddrs()...)
			cfg.Topic, cfg.SASL, cfg.Username = "auth", tt.mech, tt.user
			cfg.PasswordFile = writeFile(t, "pw", tt.password+"\n")
			cfg.Timeout = 3 * time.Second
			err := newSink(t, cfg).Write(context.Background(), []byte("m v=1 1\n"))
			var re *RetryableError
			if tt.ok && err != nil || !tt.ok && !errors.As(err, &re) {
				t.Errorf("got %v", err)
			}
		})
	}
}

// TestKafkaTLS produces over TLS to a cluster whose certificate a private
// CA signed.
func TestKafkaTLS(t *testing.T) {
	p := ingesttest.NewPKI(t)
	cert, err := tls.LoadX509KeyPair(p.ServerCert, p.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}}), kfake.SeedTopics(1, "sec"))
	cfg := kafkaConfig(c.ListenAddrs()...)
	cfg.Topic, cfg.TLS = "sec", TLSConfig{CAFile: p.CA}
	if err := newSink(t, cfg).Write(context.Background(), []byte("m v=1 1\n")); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(p.CA)
	pool.AppendCertsFromPEM(pem)
	got := consume(t, c.ListenAddrs(), []string{"sec"}, atLeast(1), kgo.DialTLSConfig(&tls.Config{RootCAs: pool}))
	if len(got) != 1 || got[0].Value == "" {
		t.Errorf("got %v", got)
	}
}

// TestClassifyKafka checks the classes of produce results.
func TestClassifyKafka(t *testing.T) {
	res := func(errs ...error) kgo.ProduceResults {
		var rs kgo.ProduceResults
		for _, e := range errs {
			rs = append(rs, kgo.ProduceResult{Record: &kgo.Record{Topic: "t"}, Err: e})
		}
		return rs
	}
	tests := []struct {
		name    string
		results kgo.ProduceResults
		want    string // ok, permanent, retry, config
	}{
		{"all acked", res(nil, nil), "ok"},
		{"too large", res(nil, kerr.MessageTooLarge), "permanent"},
		{"invalid record", res(kerr.InvalidRecord), "permanent"},
		{"too large and a timeout", res(kerr.MessageTooLarge, kgo.ErrRecordTimeout), "retry"},
		{"deadline", res(context.DeadlineExceeded), "retry"},
		{"leader moved", res(kerr.NotLeaderForPartition), "retry"},
		{"unknown topic", res(kerr.UnknownTopicOrPartition), "config"},
		{"not authorized", res(fmt.Errorf("wrapped: %w", kerr.TopicAuthorizationFailed)), "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classifyKafka(tt.results)
			var perm *PermanentError
			var re *RetryableError
			switch tt.want {
			case "ok":
				if err != nil {
					t.Errorf("got %v", err)
				}
			case "permanent":
				if !errors.As(err, &perm) {
					t.Errorf("got %v, want *PermanentError", err)
				}
			case "retry", "config":
				want := time.Duration(0)
				if tt.want == "config" {
					want = configRetry
				}
				if !errors.As(err, &re) || re.After != want {
					t.Errorf("got %#v, want *RetryableError after %s", err, want)
				}
			}
		})
	}
}

func init() { sinkFactories["kafka-line"] = kafkaLineFactory }

// kafkaLineFactory is the kafka sink in the shared suite: one partition,
// read back up to a sentinel produced after the sink's records were acked.
func kafkaLineFactory(t *testing.T) (Sink, func() string) {
	c := newCluster(t, kfake.SeedTopics(1, "suite"))
	cfg := kafkaConfig(c.ListenAddrs()...)
	cfg.Topic, cfg.Format = "suite", "line"
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, func() string {
		const sentinel = "--sentinel--"
		pr, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		if err := pr.ProduceSync(context.Background(), &kgo.Record{Topic: "suite", Value: []byte(sentinel)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		got := consume(t, c.ListenAddrs(), []string{"suite"}, func(c []consumed) bool {
			return len(c) > 0 && c[len(c)-1].Value == sentinel
		}, kgo.FetchMaxBytes(64<<20))
		var b strings.Builder
		for _, r := range got[:len(got)-1] {
			b.WriteString(r.Value)
		}
		return b.String()
	}
}

// TestKafkaUnknownTopic: a topic the cluster does not have is the site's
// configuration: retried, slowly.
func TestKafkaUnknownTopic(t *testing.T) {
	c := newCluster(t)
	cfg := kafkaConfig(c.ListenAddrs()...)
	cfg.Topic = "nope"
	err := newSink(t, cfg).Write(context.Background(), []byte("m v=1 1\n"))
	var re *RetryableError
	if !errors.As(err, &re) || re.After != configRetry || !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("got %#v, want a slow retry for an unknown topic", err)
	}
}

// TestKafkaProducerSettings watches the produce requests on the wire: acks
// from all in-sync replicas, and record batches that carry a producer id
// (the idempotent producer; a plain one sends -1).
func TestKafkaProducerSettings(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "wire"))
	var mu sync.Mutex
	var acks []int16
	var pids []int64
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		pr := req.(*kmsg.ProduceRequest)
		mu.Lock()
		defer mu.Unlock()
		acks = append(acks, pr.Acks)
		for _, tp := range pr.Topics {
			for _, p := range tp.Partitions {
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(p.Records); err == nil {
					pids = append(pids, rb.ProducerID)
				}
			}
		}
		return nil, nil, false
	})
	cfg := kafkaConfig(c.ListenAddrs()...)
	cfg.Topic = "wire"
	if err := newSink(t, cfg).Write(context.Background(), []byte("m v=1 1\nm v=2 2\n")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acks) == 0 || len(pids) == 0 {
		t.Fatalf("saw %d produce requests, %d batches", len(acks), len(pids))
	}
	for i := range acks {
		if acks[i] != -1 {
			t.Errorf("request %d: acks %d, want -1 (all in-sync replicas)", i, acks[i])
		}
	}
	for i := range pids {
		if pids[i] < 0 {
			t.Errorf("batch %d: producer id %d, want an idempotent producer's", i, pids[i])
		}
	}
}
