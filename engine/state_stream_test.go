package engine

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
	"github.com/rivulet-edge/rivulet/window"
)

// refState is the engine state as the checkpoints before streaming encoded
// it: one json.Marshal of the whole state with every operator's
// MarshalJSON.
func refState(t *testing.T, e *Engine, idx uint64) []byte {
	t.Helper()
	st := state{Version: stateVersion, Index: idx, Proc: e.proc}
	for _, s := range e.steps {
		ss := stepState{Name: s.name, Sig: s.sig, Kind: s.kind, Late: s.counts().late()}
		_, ss.Series = s.len()
		if s.op != nil {
			if sm, ok := s.op.(summarizer); ok {
				ss.Watermark, ss.Windows = sm.summary()
			}
			data, err := s.op.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			ss.State = data
		}
		st.Steps = append(st.Steps, ss)
	}
	data, err := json.Marshal(&st)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSnapshotStreamed checks that the streamed, compressed checkpoint
// holds exactly the JSON the whole-state encoder gives, at many points of
// a run (open windows, fired windows, alerts, fill's known groups, late
// points).
func TestSnapshotStreamed(t *testing.T) {
	hop := StepConfig{Name: "hop", Measurement: "temperature",
		Window: window.Config{Type: "hopping", Size: 20 * time.Second, Slide: 10 * time.Second,
			MaxDelay: time.Second, AllowedLateness: time.Minute, Late: window.LateUpdate},
		GroupBy: []string{"device"}, Aggregates: []string{"count", "p95", "distinct(zone)"},
		Fill: "previous", StateTTL: time.Hour, MaxSeries: 100, To: []string{"out"}}
	for _, tc := range []struct {
		name  string
		steps []StepConfig
	}{
		{"harness", harnessSteps()},
		{"fill and late", append(harnessSteps(), hop)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(Config{Site: "s1", Steps: tc.steps, Checkpoint: DefaultCheckpoint()},
				&memLog{}, map[string]Outbox{"out": &memOutbox{}}, &memCkpt{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Recover(); err != nil {
				t.Fatal(err)
			}
			var known bool
			for i := uint64(1); i <= compatTotal; i++ {
				ent := compatEntry(int(i))
				if i%11 == 0 { // late for the hopping windows: 25 s old
					ent.Points = fmt.Appendf(ent.Points, "temperature,device=d2,zone=z9 value=1 %d\n", ent.IngestTime-25*sec)
				}
				e.Apply(i, &ent)
				if i%7 != 0 && i != compatTotal {
					continue
				}
				if err := e.flush(); err != nil {
					t.Fatal(err)
				}
				if g, ok := e.steps[len(e.steps)-1].op.(*gridOp); ok && g.fill.on {
					known = known || len(g.known) > 0
				}
				data, err := e.snapshot(i)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
					t.Fatalf("entry %d: checkpoint is not gzip: %.20q", i, data)
				}
				zr, err := gzip.NewReader(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				plain, err := io.ReadAll(zr)
				if err != nil {
					t.Fatal(err)
				}
				if want := refState(t, e, i); !bytes.Equal(plain, want) {
					t.Fatalf("entry %d: streamed state\n%s\nwhole-state encoder\n%s", i, plain, want)
				}
				again, err := e.snapshot(i)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, data) {
					t.Fatalf("entry %d: two snapshots of one state differ", i)
				}
			}
			if tc.name != "harness" && !known {
				t.Fatal("the run never had fill's known groups")
			}
			// Windows to emit again live only within an entry: set two.
			for _, s := range e.steps {
				if g, ok := s.op.(*gridOp); ok {
					g.dirty[base] = true
					g.dirty[base-10*sec] = true
				}
			}
			var b bytes.Buffer
			if err := e.writeState(&b, compatTotal); err != nil {
				t.Fatal(err)
			}
			if want := refState(t, e, compatTotal); !bytes.Equal(b.Bytes(), want) || !bytes.Contains(want, []byte(`"dirty":[`)) {
				t.Fatalf("with windows to emit again: streamed state\n%s\nwhole-state encoder\n%s", b.Bytes(), want)
			}
		})
	}
}

// failWriter fails after n bytes.
type failWriter struct{ n int }

func (w *failWriter) Write(b []byte) (int, error) {
	if len(b) > w.n {
		return 0, fmt.Errorf("disk full")
	}
	w.n -= len(b)
	return len(b), nil
}

// TestWriteStateErrors: a writer that fails anywhere makes writeState fail.
func TestWriteStateErrors(t *testing.T) {
	e, log, _ := compatEngine(t, compatSplit, &memCkpt{})
	if _, err := e.Recover(); err != nil {
		t.Fatal(err)
	}
	var ent wal.Entry
	for i := uint64(1); i <= compatSplit; i++ {
		if err := log.Read(i, &ent); err != nil {
			t.Fatal(err)
		}
		e.Apply(i, &ent)
	}
	full := refState(t, e, compatSplit)
	for _, n := range []int{0, 10, len(full) / 3, len(full) / 2, len(full) - 1} {
		if err := e.writeState(&failWriter{n: n}, compatSplit); err == nil {
			t.Errorf("writer failing after %d of %d bytes: no error", n, len(full))
		}
	}
	var b bytes.Buffer
	if err := e.writeState(&b, compatSplit); err != nil || !bytes.Equal(b.Bytes(), full) {
		t.Fatalf("writeState: %v\n%s\nwant\n%s", err, b.Bytes(), full)
	}
}

// TestSummarizeCompressed: inspect's Summarize reads a compressed
// checkpoint as it reads the plain JSON of the same state, and refuses
// damaged compressed data.
func TestSummarizeCompressed(t *testing.T) {
	plain, err := os.ReadFile(compatFixture)
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	want, err := Summarize(plain)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Summarize(z.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("compressed: %+v\nplain: %+v", got, want)
	}
	// One window of every series, and the detect step's series.
	if w, s := got.Open(); w != 1 || s != 2*compatSeries {
		t.Fatalf("%d windows and %d series open, want 1 and %d", w, s, 2*compatSeries)
	}
	if _, err := Summarize(z.Bytes()[:z.Len()/2]); err == nil {
		t.Fatal("truncated compressed state: no error")
	}
}

// TestJSONWriterStr: str writes the bytes json.Marshal gives for a string,
// group keys with control bytes, HTML and bad UTF-8 included.
func TestJSONWriterStr(t *testing.T) {
	for _, s := range []string{"", "plain", "\x00z\x01d\x00", `a"b\c`, "<&>", "tab\tnl\n",
		"é€\u2028\u2029", "bad\xffutf8\xc3", "\x7f\x1f", strings.Repeat("k", 300)} {
		var b bytes.Buffer
		jw := jsonWriter{w: &b}
		jw.str(s)
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if jw.err != nil || !bytes.Equal(b.Bytes(), want) {
			t.Errorf("str(%q) = %s, %v; json.Marshal gives %s", s, b.Bytes(), jw.err, want)
		}
	}
}
