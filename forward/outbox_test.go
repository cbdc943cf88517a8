package forward

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
)

// flakyOutbox fails Next or Advance a set number of times before passing
// calls through, or fails them for good with err.
type flakyOutbox struct {
	*fakeOutbox
	mu                    sync.Mutex
	nextFails, commitFail int
	err                   error
	commitCalls           int
}

func (b *flakyOutbox) Next(maxPoints, maxBytes int) ([]wal.OutEntry, error) {
	b.mu.Lock()
	fail := b.nextFails > 0
	if fail {
		b.nextFails--
	}
	b.mu.Unlock()
	if fail {
		return nil, b.err
	}
	return b.fakeOutbox.Next(maxPoints, maxBytes)
}

func (b *flakyOutbox) Advance(seq uint64) error {
	b.mu.Lock()
	b.commitCalls++
	fail := b.commitFail > 0
	if fail {
		b.commitFail--
	}
	b.mu.Unlock()
	if fail {
		return b.err
	}
	return b.fakeOutbox.Advance(seq)
}

func TestRunnerOutboxFailures(t *testing.T) {
	ioErr := errors.New("input/output error")
	tests := []struct {
		name                  string
		nextFails, commitFail int
		wantCommitCalls       int
	}{
		{"next fails twice", 2, 0, 1},
		{"commit fails twice: retried, not redelivered", 0, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			box := &flakyOutbox{fakeOutbox: newFakeOutbox("m v=1 1\n"), nextFails: tt.nextFails,
				commitFail: tt.commitFail, err: ioErr}
			sink := &scriptSink{}
			r := NewRunner(testConfig("http://x/write?db=y"), box, sink, "", nil)
			sl := &sleepRecorder{}
			r.sleep, r.rand = sl.sleep, func() float64 { return 1 }
			startRunner(t, r)
			box.waitCommitted(t, 1)
			if got := sink.Writes(); !reflect.DeepEqual(got, []string{"m v=1 1\n"}) {
				t.Errorf("writes %q", got)
			}
			// Backoff grows over consecutive outbox failures too.
			if got, want := sl.Waits(), backoffs(100e6, 200e6); !reflect.DeepEqual(got, want) {
				t.Errorf("waits %v, want %v", got, want)
			}
			box.mu.Lock()
			calls := box.commitCalls
			box.mu.Unlock()
			if calls != tt.wantCommitCalls {
				t.Errorf("%d commit calls, want %d", calls, tt.wantCommitCalls)
			}
		})
	}
}

func backoffs(ns ...int64) []time.Duration {
	var out []time.Duration
	for _, n := range ns {
		out = append(out, time.Duration(n))
	}
	return out
}

func TestRunnerOutboxClosed(t *testing.T) {
	closed := func() *flakyOutbox {
		return &flakyOutbox{fakeOutbox: newFakeOutbox("m v=1 1\n"), nextFails: 1 << 30, err: wal.ErrClosed}
	}
	r := NewRunner(testConfig("http://x/write?db=y"), closed(), &scriptSink{}, "", nil)
	if err := r.Run(context.Background()); !errors.Is(err, wal.ErrClosed) {
		t.Errorf("Run = %v, want wal.ErrClosed", err)
	}
	// Closed by a shutdown that already cancelled ctx: a clean stop.
	ctx, cancel := context.WithCancel(context.Background())
	r = NewRunner(testConfig("http://x/write?db=y"), &cancelOnNext{Outbox: closed(), cancel: cancel}, &scriptSink{}, "", nil)
	if err := r.Run(ctx); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}

// cancelOnNext cancels ctx as Next is called, as a shutdown racing the
// Runner would.
type cancelOnNext struct {
	Outbox
	cancel context.CancelFunc
}

func (c *cancelOnNext) Next(maxPoints, maxBytes int) ([]wal.OutEntry, error) {
	c.cancel()
	return c.Outbox.Next(maxPoints, maxBytes)
}

// TestRunnerWithWalOutbox runs the Runner over the real outbox, plain and
// compressed (wal.compression): entries appended before and while it runs
// are delivered in order, and the cursor survives a reopen. The first two
// entries come in one Next, the second smaller than the first, as a
// compressed entry decoded into the first one's memory would be.
func TestRunnerWithWalOutbox(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			dir := t.TempDir()
			opts := wal.Options{Compress: compress}
			box, _, err := wal.OpenOutbox(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			for i, lines := range []string{"m v=1 1\nm v=2 2\n", "m v=3 3\n"} {
				if err := box.Append(uint64(i+1), []byte(lines), true); err != nil {
					t.Fatal(err)
				}
			}
			sink := &scriptSink{}
			cfg := testConfig("http://x/write?db=y")
			cfg.BatchPoints = 10
			r := NewRunner(cfg, box, sink, "", nil)
			stop := startRunner(t, r)
			if err := box.Append(3, []byte("m v=4 4\n"), true); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return box.Cursor() == 3 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if err := box.Close(); err != nil {
				t.Fatal(err)
			}
			got := strings.Join(sink.Writes(), "")
			if got != "m v=1 1\nm v=2 2\nm v=3 3\nm v=4 4\n" {
				t.Errorf("delivered %q", got)
			}
			box, _, err = wal.OpenOutbox(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer box.Close()
			if entries, err := box.Next(10, 1<<20); err != nil || len(entries) != 0 {
				t.Errorf("after reopen Next = %d entries, %v; want none pending", len(entries), err)
			}
		})
	}
}

// waitFor polls cond with a deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before the deadline")
		}
		<-tick.C
	}
}
