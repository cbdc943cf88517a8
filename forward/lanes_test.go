package forward

import (
	"net/http"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
)

// laneBox is an in-memory Outbox with a broadcast channel like wal.Outbox.
type laneBox struct {
	entries []wal.OutEntry
	cursor  uint64
	notify  chan struct{}
}

func newLaneBox() *laneBox { return &laneBox{notify: make(chan struct{})} }

func (b *laneBox) add(points string) {
	b.entries = append(b.entries, wal.OutEntry{Seq: uint64(len(b.entries) + 1), Points: []byte(points)})
	close(b.notify)
	b.notify = make(chan struct{})
}

func (b *laneBox) Next(int, int) ([]wal.OutEntry, error) {
	if int(b.cursor) >= len(b.entries) {
		return nil, nil
	}
	return b.entries[b.cursor:], nil
}
func (b *laneBox) Advance(seq uint64) error { b.cursor = seq; return nil }
func (b *laneBox) Save() error              { return nil }
func (b *laneBox) Rewind()                  {}
func (b *laneBox) Wait() <-chan struct{}    { return b.notify }

func TestLanesPriority(t *testing.T) {
	alerts, bulk := newLaneBox(), newLaneBox()
	l := NewLanes(alerts, bulk)
	bulk.add("m v=1\n")
	bulk.add("m v=2\n")
	alerts.add("alerts v=9\n")
	var got []string
	for {
		es, err := l.Next(100, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			got = append(got, string(e.Points))
		}
		if err := l.Advance(es[len(es)-1].Seq); err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 {
			alerts.add("alerts v=10\n") // raised while the backlog drains
		}
	}
	want := []string{"alerts v=9\n", "alerts v=10\n", "m v=1\n", "m v=2\n"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if alerts.cursor != 2 || bulk.cursor != 2 {
		t.Errorf("cursors %d, %d; want 2, 2", alerts.cursor, bulk.cursor)
	}
}

func TestLanesWait(t *testing.T) {
	alerts, bulk := newLaneBox(), newLaneBox()
	l := NewLanes(alerts, bulk)
	w := l.Wait()
	if l.Wait() != w {
		t.Fatal("Wait with unchanged lanes must return the same channel")
	}
	select {
	case <-w:
		t.Fatal("signalled before any append")
	default:
	}
	bulk.add("m v=1\n")
	select {
	case <-w:
	case <-time.After(5 * time.Second):
		t.Fatal("not signalled by an append to the second lane")
	}
	w = l.Wait()
	alerts.add("alerts v=1\n")
	select {
	case <-w:
	case <-time.After(5 * time.Second):
		t.Fatal("not signalled by an append to the first lane")
	}
}

// TestRunnerAlertOvertakesFailingBatch checks that an alert appended while
// a batch of the results lane is being retried goes first once the
// upstream is back, and that the results lane keeps its order.
func TestRunnerAlertOvertakesFailingBatch(t *testing.T) {
	alerts, results := newFakeOutbox(), newFakeOutbox("r v=1 1\n")
	checkAlertOvertakes(t, NewLanes(alerts, results), func() { alerts.Append("alert v=1 1\n") }, func() {
		results.waitCommitted(t, 1)
		alerts.waitCommitted(t, 1)
	})
}

// checkAlertOvertakes runs lanes (alerts, then results holding one entry
// "r v=1 1") against an upstream that fails the first write, during which
// addAlert appends the alert "alert v=1 1"; once delivered returns, the
// upstream must have seen the results, the alert, then the results again.
func checkAlertOvertakes(t *testing.T, lanes *Lanes, addAlert, delivered func()) {
	t.Helper()
	srv := newInfluxServer(t, func(n int, _ string, w http.ResponseWriter) {
		if n == 0 {
			// The alert arrives while the results batch is failing.
			addAlert()
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	cfg := testConfig(srv.URL + "/write?db=edge")
	r, _, _ := newTestRunner(t, cfg, lanes, 0.5)
	startRunner(t, r)
	delivered()
	want := []string{"r v=1 1\n", "alert v=1 1\n", "r v=1 1\n"}
	if got := srv.Bodies(); !reflect.DeepEqual(got, want) {
		t.Errorf("bodies %q, want %q", got, want)
	}
}

// TestRunnerAlertOvertakesOverWalOutboxes is
// TestRunnerAlertOvertakesFailingBatch over the agent's own lanes, wal
// outboxes with compressed records, where the Lanes learn that alerts
// wait from the records' headers (Pending) instead of reading them.
func TestRunnerAlertOvertakesOverWalOutboxes(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) *wal.Outbox {
		box, _, err := wal.OpenOutbox(filepath.Join(dir, name), wal.Options{Compress: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { box.Close() })
		return box
	}
	alerts, results := open("alerts"), open("results")
	if err := results.Append(1, []byte("r v=1 1\n"), true); err != nil {
		t.Fatal(err)
	}
	checkAlertOvertakes(t, NewLanes(alerts, results), func() {
		if err := alerts.Append(1, []byte("alert v=1 1\n"), true); err != nil {
			t.Error(err)
		}
	}, func() {
		waitFor(t, func() bool { return alerts.Cursor() == 1 && results.Cursor() == 1 })
	})
}
