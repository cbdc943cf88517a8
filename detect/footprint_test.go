package detect

import (
	"math"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/rivulet-edge/rivulet/ops"
	"github.com/rivulet-edge/rivulet/point"
)

// harnessConfig is the detect rule scripts/bench configures: a threshold
// on the raw points.
func harnessConfig() Config {
	th := DefaultThreshold()
	th.Field, th.Warn, th.Crit, th.Hysteresis = "value", 30, 35, 1
	c := DefaultConfig()
	c.Threshold, c.MaxSeries = &th, 200000
	return c
}

// harnessPoint sets p to the reading of device i as the harness sends it:
// device and zone tags, one value field.
func harnessPoint(p *point.Point, i, round int) {
	p.Measurement = "temperature"
	p.Tags = append(p.Tags[:0],
		point.Tag{Key: "device", Value: "d" + strconv.Itoa(i)},
		point.Tag{Key: "zone", Value: "z" + strconv.Itoa(i%10)})
	v := 21 + 4*math.Sin(float64(round)/60+float64(i*7)*0.37)
	fv, _ := lineprotocol.FloatValue(v)
	p.Fields = append(p.Fields[:0], point.Field{Key: "value", Value: fv})
}

// TestFootprint reports the live heap an Op keeps per series at 10k series
// of the harness rule (RIVULET_FOOTPRINT=1).
func TestFootprint(t *testing.T) {
	if os.Getenv("RIVULET_FOOTPRINT") == "" {
		t.Skip("set RIVULET_FOOTPRINT=1")
	}
	const series = 10000
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	o := newOp(t, harnessConfig())
	var p point.Point
	emit := func(*point.Point) {}
	for r := range 3 {
		for i := range series {
			harnessPoint(&p, i, r)
			ts := int64(r+1) * int64(time.Second)
			o.Add(&p, ts, ts, emit)
		}
	}
	p = point.Point{}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	live := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	t.Logf("detect.Op: %d series, live heap %d B (%.0f B/series)", o.Len(), live, float64(live)/series)
	runtime.KeepAlive(o)
}

// TestAnomalyFootprint: past the first 64 series, the anomaly rule's
// detectors are allocated in pages, so a series costs its 8.3 KiB of
// detector and little more, not the 9.25 KiB size class each would take
// alone. 2000 series, the harness's readings on the anomaly detector.
func TestAnomalyFootprint(t *testing.T) {
	const series = 2000
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	o := newOp(t, detector("anomaly"))
	var p point.Point
	emit := func(*point.Point) {}
	for i := range series {
		harnessPoint(&p, i, 0)
		o.Add(&p, int64(time.Second), int64(time.Second), emit)
	}
	p = point.Point{}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / series
	t.Logf("anomaly rule: %d series, %.0f B of live heap per series", o.Len(), per)
	if size := float64(unsafe.Sizeof(ops.Anomaly{})); per > size+600 {
		t.Errorf("%.0f B per series for a detector of %.0f B", per, size)
	}
	runtime.KeepAlive(o)
}
