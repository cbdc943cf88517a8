package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/forward/influxtest"
	"github.com/rivulet-edge/rivulet/point"
)

// interopPoints are results as the engine emits them: tags, int, float,
// string and bool fields, nanosecond timestamps that a float64 would round.
func interopPoints(t *testing.T) []point.Point {
	t.Helper()
	var pts []point.Point
	for i := range 6 {
		p := point.Point{Measurement: "temp_1m", Time: 1700000000123456789 + int64(i)*60e9 + int64(i)}
		p.SetTag("site", "north")
		p.SetTag("sensor", fmt.Sprintf("t%d", i%3))
		p.AddField("count", lineprotocol.MustNewValue(int64(10+i)))
		p.AddField("mean", lineprotocol.MustNewValue(21.5+float64(i)/8))
		p.AddField("state", lineprotocol.MustNewValue(fmt.Sprintf("ok %d", i)))
		p.AddField("alert", lineprotocol.MustNewValue(i%2 == 0))
		pts = append(pts, p)
	}
	return pts
}

// row is one stored point rendered canonically: identity, then fields.
func row(measurement string, tags map[string]string, ts string, fields map[string]string) string {
	var b strings.Builder
	b.WriteString(measurement)
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString("," + k + "=" + tags[k])
	}
	b.WriteString(" " + ts)
	keys = keys[:0]
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(" " + k + "=" + fields[k])
	}
	return b.String()
}

func wantRows(pts []point.Point) []string {
	var out []string
	for _, p := range pts {
		tags := map[string]string{}
		for _, tg := range p.Tags {
			tags[tg.Key] = tg.Value
		}
		fields := map[string]string{}
		for _, f := range p.Fields {
			switch f.Value.Kind() {
			case lineprotocol.Int:
				fields[f.Key] = strconv.FormatInt(f.Value.IntV(), 10)
			case lineprotocol.Float:
				fields[f.Key] = strconv.FormatFloat(f.Value.FloatV(), 'g', -1, 64)
			case lineprotocol.String:
				fields[f.Key] = strconv.Quote(f.Value.StringV())
			case lineprotocol.Bool:
				fields[f.Key] = strconv.FormatBool(f.Value.BoolV())
			}
		}
		out = append(out, row(p.Measurement, tags, strconv.FormatInt(p.Time, 10), fields))
	}
	sort.Strings(out)
	return out
}

// storedRows reads measurement m back from the server in the same form.
func storedRows(t *testing.T, base, db, m string) []string {
	t.Helper()
	types := fieldTypes(t, base, db, m)
	var out []string
	for _, s := range influxtest.Query(t, base, db, fmt.Sprintf("SELECT * FROM %q GROUP BY *", m)) {
		for _, vals := range s.Values {
			fields := map[string]string{}
			var ts string
			for i, c := range s.Columns {
				switch v := vals[i].(type) {
				case json.Number:
					if c == "time" {
						ts = v.String()
					} else if types[c] == "integer" {
						fields[c] = v.String()
					} else {
						f, _ := v.Float64()
						fields[c] = strconv.FormatFloat(f, 'g', -1, 64)
					}
				case string:
					fields[c] = strconv.Quote(v)
				case bool:
					fields[c] = strconv.FormatBool(v)
				}
			}
			out = append(out, row(s.Name, s.Tags, ts, fields))
		}
	}
	sort.Strings(out)
	return out
}

func fieldTypes(t *testing.T, base, db, m string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range influxtest.Query(t, base, db, fmt.Sprintf("SHOW FIELD KEYS FROM %q", m)) {
		for _, v := range s.Values {
			out[v[0].(string)] = v[1].(string)
		}
	}
	return out
}

// TestInteropInflux1 delivers through a Runner to a real InfluxDB 1.x and
// reads the points back: exactly what was sent, and a second delivery of
// the same points overwrites rather than adds.
func TestInteropInflux1(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd")
	}
	base := influxtest.Start(t)
	for _, gzip := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gzip), func(t *testing.T) {
			db := fmt.Sprintf("edge_gzip_%v", gzip)
			if !gzip {
				db = "edge"
			}
			influxtest.Query(t, base, "", "CREATE DATABASE "+db)
			cfg := testConfig(base + "/write?db=" + db)
			cfg.Gzip, cfg.BatchPoints = gzip, 4
			pts := interopPoints(t)
			box := newFakeOutbox()
			appendPoints := func() uint64 {
				var seq uint64
				for _, p := range pts {
					line, err := point.AppendLine(nil, &p)
					if err != nil {
						t.Fatal(err)
					}
					seq = box.Append(string(line))
				}
				return seq
			}
			r, sl, _ := newTestRunner(t, cfg, box, 0.5)
			startRunner(t, r)

			box.waitCommitted(t, appendPoints())
			want := wantRows(pts)
			if got := storedRows(t, base, db, "temp_1m"); !reflect.DeepEqual(got, want) {
				t.Fatalf("stored\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			wantTypes := map[string]string{"count": "integer", "mean": "float", "state": "string", "alert": "boolean"}
			if got := fieldTypes(t, base, db, "temp_1m"); !reflect.DeepEqual(got, wantTypes) {
				t.Errorf("field types %v, want %v", got, wantTypes)
			}

			box.waitCommitted(t, appendPoints()) // redelivery after a crash
			if got := storedRows(t, base, db, "temp_1m"); !reflect.DeepEqual(got, want) {
				t.Errorf("after a repeat write\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if st := r.Stats(); st.DeliveredPoints != uint64(2*len(pts)) || len(sl.Waits()) != 0 {
				t.Errorf("stats %+v, waits %v", st, sl.Waits())
			}
		})
	}
}

// TestInteropInflux1Rejects checks the real server's rejections: a bad line
// is dead-lettered with the server's message and the next batch goes
// through; an unknown database is a permanent 404.
func TestInteropInflux1Rejects(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd")
	}
	base := influxtest.Start(t)
	influxtest.Query(t, base, "", "CREATE DATABASE edge")
	cfg := testConfig(base + "/write?db=edge")
	cfg.BatchPoints = 1
	box := newFakeOutbox("m,s=a v=1i 1700000000000000001\n", "m,s=b v=oops 1700000000000000002\n",
		"m,s=c v=3i 1700000000000000003\n")
	r, _, dl := newTestRunner(t, cfg, box, 0.5)
	startRunner(t, r)
	box.waitCommitted(t, 3)
	if got := readFile(t, dl); got != "m,s=b v=oops 1700000000000000002\n" {
		t.Errorf("dead letter %q", got)
	}
	var reason deadReason
	if err := json.Unmarshal([]byte(readFile(t, dl+".reasons")), &reason); err != nil {
		t.Fatal(err)
	}
	if reason.Status != 400 || !strings.Contains(reason.Error, "unable to parse") {
		t.Errorf("reason %+v", reason)
	}
	want := []string{"m,s=a 1700000000000000001 v=1", "m,s=c 1700000000000000003 v=3"}
	if got := storedRows(t, base, "edge", "m"); !reflect.DeepEqual(got, want) {
		t.Errorf("stored %q, want %q", got, want)
	}

	s, err := New(testConfig(base+"/write?db=missing"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Write(context.Background(), []byte("m v=1 1\n"))
	var re *RetryableError
	if !errors.As(err, &re) || re.After < configRetry || !strings.Contains(err.Error(), "database not found") {
		t.Errorf("unknown database: %v, want a slow retry (the data stays in the outbox)", err)
	}
}
