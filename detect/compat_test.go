package detect

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ops"
	"github.com/rivulet-edge/rivulet/point"
)

var update = flag.Bool("update", false, "rewrite the golden checkpoints in testdata/compat")

// compatPoint returns the point of feed series s: a measurement and tag
// values with the characters line protocol escapes (space, comma, equals,
// quote, backslash), three tags, set out of order.
func compatPoint(s string, v float64) *point.Point {
	return pt("temp room,1", "value", v,
		"zone=north east="+s, `device=d,"`+s+`"\x`, "site=s1")
}

// playCompat runs the workload through o as play does, with compatPoint
// points, and returns the alerts as line protocol.
func playCompat(o *Op, in []feed) []string {
	var out []string
	emit := collect(&out)
	min := int64(time.Minute)
	for _, f := range in {
		if f.s == "" {
			o.Advance(f.i*min, emit)
			continue
		}
		o.Add(compatPoint(f.s, f.v), f.i*min, f.i*min, emit)
	}
	return out
}

func compatConfig(kind string) Config {
	c := detector(kind)
	c.Alert = ops.AlertConfig{Cooldown: 5, FlapLimit: 3, FlapWindow: 10}
	c.Sustain = SustainConfig{Points: 2, Duration: time.Minute}
	c.TTL = 90 * time.Minute
	return c
}

// TestCheckpointCompat pins the checkpoint bytes and the alerts to those
// written by the implementation that kept a cloned measurement, tag set
// and detector per series (testdata/compat, written by it with -update):
// for every kind, a checkpoint taken halfway through the workload must
// equal the old bytes, an old checkpoint must restore and be written back
// byte for byte, and the alerts of both halves must equal the old ones.
func TestCheckpointCompat(t *testing.T) {
	in := workload()
	cut := len(in) / 2
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			c := compatConfig(kind)
			o := newOp(t, c)
			first := playCompat(o, in[:cut])
			ck, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			var w bytes.Buffer
			if err := o.WriteJSON(&w); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(w.Bytes(), ck) {
				t.Fatalf("WriteJSON differs from MarshalJSON:\n%s\n%s", w.Bytes(), ck)
			}
			second := playCompat(o, in[cut:])
			alerts := strings.Join(append(first, second...), "\n") + "\n"
			dir := filepath.Join("testdata", "compat")
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, kind+".json"), ck, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, kind+".lp"), []byte(alerts), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			oldCk, err := os.ReadFile(filepath.Join(dir, kind+".json"))
			if err != nil {
				t.Fatal(err)
			}
			oldAlerts, err := os.ReadFile(filepath.Join(dir, kind+".lp"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ck, oldCk) {
				t.Errorf("checkpoint differs from the old one:\n got %.600s\nwant %.600s", ck, oldCk)
			}
			if alerts != string(oldAlerts) {
				t.Errorf("alerts differ from the old ones:\n%s", diff(strings.Split(alerts, "\n"), strings.Split(string(oldAlerts), "\n")))
			}
			// An old checkpoint restores, writes back the same bytes and
			// gives the old alerts of the second half.
			r := newOp(t, c)
			if err := json.Unmarshal(oldCk, r); err != nil {
				t.Fatal(err)
			}
			again, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, oldCk) {
				t.Errorf("old checkpoint written back differs:\n got %.600s\nwant %.600s", again, oldCk)
			}
			got := strings.Join(append(first, playCompat(r, in[cut:])...), "\n") + "\n"
			if got != string(oldAlerts) {
				t.Errorf("alerts after restoring the old checkpoint differ:\n%s", diff(strings.Split(got, "\n"), strings.Split(string(oldAlerts), "\n")))
			}
		})
	}
}
