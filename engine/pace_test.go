package engine

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
)

// countingOutbox is a memOutbox that counts appends.
type countingOutbox struct {
	memOutbox
	appends int
}

func (o *countingOutbox) Append(idx uint64, points []byte, sync bool) error {
	o.appends++
	return o.memOutbox.Append(idx, points, sync)
}

// TestFlushPaced checks that results are appended at most once per flush
// interval, that a checkpoint appends what waits, and that nothing is
// lost or doubled in between.
func TestFlushPaced(t *testing.T) {
	log := &memLog{}
	var want []byte
	var entries []wal.Entry
	for i := 1; i <= 10; i++ {
		line := fmt.Sprintf("raw,site=s1 v=%di %d", i, int64(i)*sec)
		entries = append(entries, batch(int64(i)*sec, line))
		want = append(want, line+"\n"...)
	}
	box := &countingOutbox{}
	cfg := Config{Site: "s1", Checkpoint: CheckpointConfig{Interval: time.Hour, FlushInterval: time.Minute},
		Steps: []StepConfig{{Name: "pass", Measurement: "raw", To: []string{"out"}}}}
	e, err := New(cfg, log, map[string]Outbox{"out": box}, &memCkpt{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Recover(); err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1_700_000_000, 0)
	e.pace.now = func() time.Time { return clock }
	step := func(last uint64) {
		t.Helper()
		for uint64(len(log.entries)) < last {
			log.add(entries[len(log.entries)])
		}
		e.Notify(last)
		if err := e.catchUp(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	for i := uint64(1); i <= 6; i++ {
		step(i)
		clock = clock.Add(time.Second)
	}
	if box.appends != 1 || !bytes.Equal(box.lines, want[:bytes.IndexByte(want, '\n')+1]) {
		t.Fatalf("after 6 entries in 6 s: %d appends, outbox %q; want 1 append of the first result", box.appends, box.lines)
	}
	clock = clock.Add(time.Minute)
	step(8)
	if box.appends != 2 || box.hw != 8 {
		t.Fatalf("after the interval: %d appends, high water %d; want 2, 8", box.appends, box.hw)
	}
	step(10)
	if err := e.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if box.appends != 3 || !bytes.Equal(box.lines, want) {
		t.Fatalf("after a checkpoint: %d appends, outbox\n%s\nwant 3 appends of\n%s", box.appends, box.lines, want)
	}
}

func TestFlushPaceDue(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name    string
		every   time.Duration
		last    time.Time
		pending int
		want    bool
		armed   bool
	}{
		{"nothing pending", time.Second, t0, 0, false, false},
		{"unpaced", 0, t0, 1, true, false},
		{"interval passed", time.Second, t0.Add(-time.Second), 1, true, false},
		{"too soon: wait, wake later", time.Second, t0.Add(-time.Second / 2), 1, false, true},
		{"too soon but over the memory cap", time.Second, t0, maxPendingBytes, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := flushPace{now: func() time.Time { return t0 }, last: tt.last}
			woken := make(chan struct{}, 1)
			if got := p.due(tt.every, tt.pending, func() { woken <- struct{}{} }); got != tt.want {
				t.Errorf("due = %v, want %v", got, tt.want)
			}
			if got := !p.armed.IsZero(); got != tt.armed {
				t.Errorf("wakeup armed = %v, want %v", got, tt.armed)
			}
			if tt.armed {
				<-woken // the wakeup comes, at last+every
			}
		})
	}
}
