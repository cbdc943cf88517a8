package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/forward/influxtest"
	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// TestInfluxForwarding runs the agent with an InfluxDB 1.x sink against
// Debian's influxd on a loopback port and queries the results back.
func TestInfluxForwarding(t *testing.T) {
	influx := influxtest.Start(t)
	influxtest.Query(t, influx, "", "CREATE DATABASE edge")
	dir := t.TempDir()
	broker := ingesttest.Mosquitto(t, "max_queued_messages 0", "max_inflight_messages 100")
	cloud := fmt.Sprintf(`  - name: cloud
    type: influx
    url: %s/write?db=edge
    gzip: true
    retry: {initial: 50ms, max: 500ms}
`, influx)
	agent := startAgent(t, siteConfig(t, dir, broker, "", cloud))
	waitSubscribed(t, agent)
	rs := readings(2, 2, 300, 5)
	if err := publish(context.Background(), broker, "pub-influx", rs, 0); err != nil {
		t.Fatal(err)
	}
	want := expected(rs, time.Second, "temp_1s")
	var got map[string]map[string]float64
	waitFor(t, 30*time.Second, "all windows in InfluxDB", func() bool {
		got = queryResults(t, influx)
		return len(got) >= len(want)
	})
	agent.stop(t)
	compare(t, got, want)
	// The file sink saw the same results.
	compare(t, results(t, filepath.Join(dir, "results.lp")), want)
}

// queryResults reads every temp_1s point back as identity → fields.
func queryResults(t *testing.T, influx string) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, s := range influxtest.Query(t, influx, "edge", "SELECT * FROM temp_1s GROUP BY *") {
		keys := make([]string, 0, len(s.Tags))
		for k := range s.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var tags strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&tags, ",%s=%s", k, s.Tags[k])
		}
		for _, row := range s.Values {
			fields := map[string]float64{}
			var ts string
			for i, col := range s.Columns {
				n, _ := row[i].(json.Number)
				if col == "time" {
					ts = n.String()
					continue
				}
				fields[col], _ = n.Float64()
			}
			out[fmt.Sprintf("%s%s %s", s.Name, tags.String(), ts)] = fields
		}
	}
	return out
}
