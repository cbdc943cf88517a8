package batcher

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest"
	"github.com/rivulet-edge/rivulet/wal"
)

// fakeLog records appends and syncs; each sync is slow enough that messages
// pile up behind it, as they do on a real disk.
type fakeLog struct {
	mu       sync.Mutex
	entries  []wal.Entry
	durable  int // entries covered by the last Sync
	syncs    int
	syncTime time.Duration
	full     bool
}

func (l *fakeLog) Append(es ...*wal.Entry) (uint64, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range es {
		c := *e
		c.Points = append([]byte(nil), e.Points...)
		c.Fingerprints = append([]uint64(nil), e.Fingerprints...)
		l.entries = append(l.entries, c)
	}
	n := uint64(len(l.entries))
	return n - uint64(len(es)) + 1, n, nil
}

func (l *fakeLog) Sync() error {
	time.Sleep(l.syncTime)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.syncs++
	l.durable = len(l.entries)
	return nil
}

func (l *fakeLog) Full() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.full }
func (l *fakeLog) Read(i uint64, e *wal.Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i < 1 || i > uint64(len(l.entries)) {
		return wal.ErrNotFound
	}
	*e = l.entries[i-1]
	return nil
}
func (l *fakeLog) FirstIndex() uint64 { return min(1, uint64(len(l.entries))) }
func (l *fakeLog) LastIndex() uint64  { l.mu.Lock(); defer l.mu.Unlock(); return uint64(len(l.entries)) }

// durableHas reports whether the line is in an entry covered by a sync.
func (l *fakeLog) durableHas(line string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries[:l.durable] {
		if bytes.Contains(e.Points, []byte(line)) {
			return true
		}
	}
	return false
}

func testConfig() Config {
	c := DefaultConfig()
	c.Heartbeat = time.Hour
	return c
}

func msg(i int, qos byte, onAck func(*ingest.Message)) *ingest.Message {
	line := fmt.Sprintf("m,k=v f=%di %d\n", i, i+1)
	m := &ingest.Message{Topic: "t", QoS: qos, MessageID: uint16(i), Points: []byte(line), N: 1,
		Fingerprint: ingest.Fingerprint("t", []byte(line), uint16(i))}
	if onAck != nil {
		// The batcher releases Points once it has copied them: the callback
		// gets them back to see what was acked.
		m.SetAck(func() { m.Points = []byte(line); onAck(m) })
	}
	return m
}

// TestGroupCommit sends N messages from one source goroutine while syncs
// take 2 ms: batches form by themselves, far fewer syncs than messages, no
// message acked before a sync covered it, acks in arrival order.
func TestGroupCommit(t *testing.T) {
	log := &fakeLog{syncTime: 2 * time.Millisecond}
	b := New(testConfig(), log, Options{Fsync: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()

	const n = 2000
	var mu sync.Mutex
	var acked []int
	var bad []string
	all := make(chan struct{})
	for i := 0; i < n; i++ {
		b.Handle(msg(i, 1, func(m *ingest.Message) {
			line := string(m.Points[:len(m.Points)-1])
			if !log.durableHas(line) {
				mu.Lock()
				bad = append(bad, line)
				mu.Unlock()
			}
			mu.Lock()
			acked = append(acked, int(m.MessageID))
			if len(acked) == n {
				close(all)
			}
			mu.Unlock()
		}))
	}
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		t.Fatal("not every message was acked")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("%d messages acked before their sync, e.g. %q", len(bad), bad[0])
	}
	for i, id := range acked {
		if id != i {
			t.Fatalf("ack %d was message %d: acks out of arrival order", i, id)
		}
	}
	if log.syncs > n/4 {
		t.Fatalf("%d syncs for %d messages: no group commit", log.syncs, n)
	}
	t.Logf("%d messages in %d syncs", n, log.syncs)
	st := b.Stats()
	sizes, sum := st.BatchSize.Snapshot()
	lat, _ := st.AckLatency.Snapshot()
	var count, latCount uint64
	for i := range sizes {
		count, latCount = count+sizes[i], latCount+lat[i]
	}
	if batches := st.Batches.Load(); count != batches || sum != n || latCount != batches {
		t.Fatalf("histograms: %d batch sizes summing to %d and %d ack latencies, want %d, %d and %d",
			count, sum, latCount, batches, n, batches)
	}
}

// commitNow commits msgs as one batch, as Run's committer does.
func commitNow(t *testing.T, b *Batcher, msgs ...*ingest.Message) {
	t.Helper()
	var bt batch
	for _, m := range msgs {
		b.add(&bt, queued{m, time.Now().UnixNano()})
	}
	if err := b.commit(context.Background(), &bt); err != nil {
		t.Fatal(err)
	}
}

func TestRedeliveryDedupe(t *testing.T) {
	log := &fakeLog{}
	b := New(testConfig(), log, Options{Fsync: true})
	first := msg(1, 1, nil)
	commitNow(t, b, first)

	// After a restart, the tail of the log seeds the fingerprint set.
	b = New(testConfig(), log, Options{Fsync: true})
	var acks int
	redelivered := msg(1, 1, func(*ingest.Message) { acks++ })
	redelivered.Dup = true
	sameValueNewID := msg(1, 1, func(*ingest.Message) { acks++ })
	sameValueNewID.MessageID = 2
	sameValueNewID.Fingerprint = ingest.Fingerprint("t", sameValueNewID.Points, 2)
	sameValueNewID.Dup = true // a DUP whose original never reached the log
	commitNow(t, b, redelivered)
	commitNow(t, b, sameValueNewID)
	if acks != 2 {
		t.Fatalf("acks = %d, want 2", acks)
	}
	if got := b.Stats().Deduped.Load(); got != 1 {
		t.Fatalf("deduped = %d, want 1", got)
	}
	if got := b.Stats().DupUnmatched.Load(); got != 1 {
		t.Fatalf("unmatched DUPs = %d, want 1 (the new DUP)", got)
	}
	if len(log.entries) != 2 {
		t.Fatalf("log has %d entries, want 2 (the original and the new DUP)", len(log.entries))
	}
}

// TestRedeliveryDedupeLegacy: a message logged by an earlier version (its
// fingerprint the legacy one) and redelivered after the upgrade is still
// recognized, by the legacy fingerprint the source sets on long DUPs.
func TestRedeliveryDedupeLegacy(t *testing.T) {
	log := &fakeLog{}
	b := New(testConfig(), log, Options{Fsync: true})
	payload := []byte(strings.Repeat("m,k=v f=1i 2\n", 8)) // over 64 bytes
	legacy := ingest.LegacyFingerprint("t", payload, 1)
	if legacy == ingest.Fingerprint("t", payload, 1) {
		t.Fatal("the test needs a payload whose fingerprints differ")
	}
	old := msg(1, 1, nil)
	old.Fingerprint = legacy // as the earlier version logged it
	commitNow(t, b, old)

	b = New(testConfig(), log, Options{Fsync: true})
	redelivered := msg(1, 1, nil)
	redelivered.Dup = true
	redelivered.Fingerprint, redelivered.LegacyFingerprint = ingest.Fingerprint("t", payload, 1), legacy
	other := msg(2, 1, nil)
	other.Dup = true // its original never reached the log
	other.Fingerprint, other.LegacyFingerprint = ingest.Fingerprint("t", payload, 2), ingest.LegacyFingerprint("t", payload, 2)
	commitNow(t, b, redelivered, other)
	if got := b.Stats().Deduped.Load(); got != 1 {
		t.Fatalf("deduped = %d, want 1", got)
	}
	if got := b.Stats().DupUnmatched.Load(); got != 1 {
		t.Fatalf("unmatched DUPs = %d, want 1 (the new DUP)", got)
	}
	if len(log.entries) != 2 {
		t.Fatalf("log has %d entries, want 2 (the original, then the other DUP)", len(log.entries))
	}
}

func TestQoS0DropsWhenFull(t *testing.T) {
	cfg := testConfig()
	cfg.Queue = 2
	b := New(cfg, &fakeLog{}, Options{})
	for i := 0; i < 5; i++ {
		b.Handle(msg(i, 0, nil))
	}
	if got := b.Stats().Dropped.Load(); got != 3 {
		t.Fatalf("dropped = %d, want 3", got)
	}
}

func TestQoS1BlocksWhenFull(t *testing.T) {
	cfg := testConfig()
	cfg.Queue = 1
	b := New(cfg, &fakeLog{}, Options{})
	b.Handle(msg(0, 1, nil))
	returned := make(chan struct{})
	go func() { b.Handle(msg(1, 1, nil)); close(returned) }()
	select {
	case <-returned:
		t.Fatal("Handle returned although the queue was full")
	case <-time.After(50 * time.Millisecond):
	}
	ctx, cancel := context.WithCancel(context.Background())
	go b.Run(ctx)
	<-returned // the batcher made room
	cancel()
	if b.Stats().BlockedNanos.Load() == 0 {
		t.Fatal("blocked time not counted")
	}
}

func TestHeartbeatsAndEpochs(t *testing.T) {
	cfg := testConfig()
	cfg.Heartbeat = 10 * time.Millisecond
	log := &fakeLog{}
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(5 * time.Millisecond); return now }
	b := New(cfg, log, Options{Now: clock})
	b.Connected("s", false) // a source is down: no heartbeats
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	waitKinds := func(kind wal.Kind, n int) {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			log.mu.Lock()
			c := 0
			for _, e := range log.entries {
				if e.Kind == kind {
					c++
				}
			}
			log.mu.Unlock()
			if c >= n {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("fewer than %d entries of kind %v", n, kind)
	}
	waitKinds(wal.KindEpoch, 1) // the start
	time.Sleep(50 * time.Millisecond)
	if b.Stats().Heartbeats.Load() != 0 {
		t.Fatal("heartbeats written while a source was down")
	}
	b.Connected("s", true)
	waitKinds(wal.KindEpoch, 2) // the reconnect
	waitKinds(wal.KindHeartbeat, 3)
	cancel()
	<-done
	var last int64
	for _, e := range log.entries {
		if e.IngestTime <= last {
			t.Fatalf("ingest time not increasing: %d after %d", e.IngestTime, last)
		}
		last = e.IngestTime
	}
}

// TestLogCapHoldsAcks: at the log's size cap the batcher neither writes nor
// acks (the broker keeps the messages) and never drops anything; once a
// checkpoint frees space it commits and acks.
func TestLogCapHoldsAcks(t *testing.T) {
	log := &fakeLog{full: true}
	cfg := testConfig()
	b := New(cfg, log, Options{Fsync: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	var acked sync.WaitGroup
	acked.Add(1)
	b.Handle(msg(1, 1, func(*ingest.Message) { acked.Done() }))
	time.Sleep(cfg.Linger + 100*time.Millisecond) // the batcher is waiting for room
	if n := log.LastIndex(); n != 0 {
		t.Fatalf("%d entries written while the log was full", n)
	}
	log.mu.Lock()
	log.full = false
	log.mu.Unlock()
	acked.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b.Stats().FullNanos.Load() == 0 {
		t.Error("time at the cap not counted")
	}
	if len(log.entries) < 2 || !bytes.Contains(log.entries[len(log.entries)-1].Points, []byte("f=1i")) {
		t.Errorf("the held message was not written after room was made: %d entries", len(log.entries))
	}
}

// TestMinInterval: a trickle of one message every 2 ms is a commit per
// message without pacing; with min_interval 40ms commits start at least
// 40 ms apart, so over an elapsed time T there are at most T/40ms + 2 of
// them (the last at shutdown), and every message is still acked after its
// sync. The bound follows from the pacing, not from the machine's speed.
func TestMinInterval(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		paced    bool
	}{{40 * time.Millisecond, true}, {0, false}} {
		log := &fakeLog{}
		cfg := testConfig()
		cfg.MinInterval = tc.interval
		b := New(cfg, log, Options{Fsync: true})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		start := time.Now()
		go func() { done <- b.Run(ctx) }()
		const n = 200
		var acked sync.WaitGroup
		acked.Add(n)
		var early int
		var mu sync.Mutex
		for i := range n {
			b.Handle(msg(i, 1, func(m *ingest.Message) {
				if !log.durableHas(string(m.Points[:len(m.Points)-1])) {
					mu.Lock()
					early++
					mu.Unlock()
				}
				acked.Done()
			}))
			time.Sleep(2 * time.Millisecond)
		}
		acked.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		log.mu.Lock()
		syncs := log.syncs
		log.mu.Unlock()
		maxSyncs := n + 1
		if tc.paced {
			maxSyncs = int(elapsed/tc.interval) + 2
		}
		if syncs > maxSyncs || early > 0 {
			t.Errorf("min_interval %s: %d syncs in %s (at most %d), %d acks before their sync", tc.interval, syncs, elapsed, maxSyncs, early)
		}
		t.Logf("min_interval %s: %d messages in %d syncs", tc.interval, n, syncs)
	}
}

// TestPointsReleased: once a message's points are copied into a batch the
// batcher hands them back (ReleasePoints), before the message is acked.
func TestPointsReleased(t *testing.T) {
	b := New(testConfig(), &fakeLog{}, Options{Fsync: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	m := msg(1, 1, nil)
	acked := make(chan []byte, 1)
	m.SetAck(func() { acked <- m.Points })
	b.Handle(m)
	if pts := <-acked; pts != nil {
		t.Errorf("points still held at the ack: %q", pts)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestHeldBoundedByDedupe: the batcher holds at most Config.Dedupe
// unacked messages whatever the source offers (a broker may send a whole
// backlog without waiting for acks), so that when a reconnect makes the
// broker send every unacked message again, each copy is recognised and
// the log holds every reading once.
func TestHeldBoundedByDedupe(t *testing.T) {
	cfg := testConfig()
	cfg.Dedupe = 64
	log := &fakeLog{syncTime: 2 * time.Millisecond}
	b := New(cfg, log, Options{Fsync: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var (
		mu    sync.Mutex
		acked = map[uint16]bool{}
		acks  int
	)
	onAck := func(m *ingest.Message) {
		mu.Lock()
		defer mu.Unlock()
		acked[m.MessageID] = true
		acks++
	}
	const n = 3000
	most := 0
	for i := 1; i <= n; i++ {
		b.Handle(msg(i, 1, onAck))
		mu.Lock()
		most = max(most, i-len(acked))
		mu.Unlock()
	}
	// A reconnect: the broker sends again what was not acked.
	mu.Lock()
	var again []int
	for i := 1; i <= n; i++ {
		if !acked[uint16(i)] {
			again = append(again, i)
		}
	}
	mu.Unlock()
	for _, i := range again {
		m := msg(i, 1, onAck)
		m.Dup = true
		b.Handle(m)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		all := acks == n+len(again)
		mu.Unlock()
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages acked", acks, n+len(again))
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if most > cfg.Dedupe {
		t.Errorf("%d messages waited for their acks at once, above dedupe (%d)", most, cfg.Dedupe)
	}
	lines := 0
	for _, e := range log.entries {
		lines += bytes.Count(e.Points, []byte{'\n'})
	}
	t.Logf("at most %d unacked; %d sent again after the reconnect, %d recognised", most, len(again), b.Stats().Deduped.Load())
	if lines != n {
		t.Errorf("the log holds %d readings, want %d: redeliveries were taken for new readings", lines, n)
	}
}
