package config

import (
	"os"
	"strings"
	"testing"
)

// TestDocsPipelineExamples loads every YAML block of docs/pipeline.md that
// is a whole `pipeline:` list, in a site config that defines the sinks the
// examples name, so that the documentation cannot drift from the code.
func TestDocsPipelineExamples(t *testing.T) {
	data, err := os.ReadFile("../docs/pipeline.md")
	if err != nil {
		t.Fatal(err)
	}
	const site = "site: docs\ndata_dir: /tmp/docs\n" +
		"sources: {mqtt: [{name: s, broker: tcp://127.0.0.1:1883, qos: 0, topics: [{filter: x, format: influx}]}]}\n" +
		"sinks:\n  - {name: cloud, type: stdout}\n  - {name: alerts, type: stdout}\n  - {name: local, type: stdout}\n  - {name: late, type: stdout}\n"
	blocks := 0
	for _, part := range strings.Split(string(data), "```yaml\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		if !strings.HasPrefix(block, "pipeline:") {
			continue
		}
		blocks++
		if _, err := LoadBytes([]byte(site+block), "yaml", nil); err != nil {
			t.Errorf("docs/pipeline.md example %d:\n%v\n%s", blocks, err, block)
		}
	}
	if blocks < 2 {
		t.Fatalf("found %d pipeline examples, want at least 2", blocks)
	}
}
